package recording

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/leadline/leadline/dialer"
)

// With object storage, recordings are written to a spool directory on the node while
// their calls run, and uploaded after the call by a job that the store writes in the
// same transaction as the recording's length and size (Spooler). The job must run where
// the file is: it goes to the spool directory's own queue, named by an id kept in the
// directory (SpoolQueue), which only a process using that directory works. A node that
// dies after a call uploads its files when it starts again on the same disk (whatever
// its node_id); until then the file stays in the spool, and the API serves it from there
// on that node. The file is removed only once its object is uploaded.

// Spooler notes a finished recording waiting in the spool and enqueues its upload, in
// one transaction. *store.DB implements it.
type Spooler interface {
	RecordingSpooled(ctx context.Context, leadID string, d time.Duration, bytes int64, up dialer.RecordingUpload) error
}

// Spool is the Recorder's spool for an object store.
type Spool struct {
	Queue   string // SpoolQueue of the Recorder's Dir
	Spooler Spooler
}

// spoolIDFile holds the spool directory's id.
const spoolIDFile = ".leadline-spool-id"

// SpoolQueue returns the name of dir's upload queue, "recordings_<id>", creating dir
// and its id on first use.
func SpoolQueue(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("recording spool: %w", err)
	}
	p := filepath.Join(dir, spoolIDFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		id := make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return "", err
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(hex.EncodeToString(id)+"\n"), 0o640); err != nil {
			return "", fmt.Errorf("recording spool: %w", err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return "", fmt.Errorf("recording spool: %w", err)
		}
		b, err = os.ReadFile(p)
	}
	if err != nil {
		return "", fmt.Errorf("recording spool: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", fmt.Errorf("recording spool: %s holds %q, not a spool id", p, id)
	}
	return "recordings_" + id, nil
}

// SpooledStore keeps recordings in Remote, spooled in Dir until they are uploaded. The
// Recorder writes into Dir; the upload job calls Put.
type SpooledStore struct {
	Dir    string
	Remote interface {
		Store
		Exists(ctx context.Context, key string) (bool, error)
	}
	Observer Observer
}

func (s *SpooledStore) observer() Observer {
	if s.Observer == nil {
		return nopObserver{}
	}
	return s.Observer
}

// Put implements Store: it uploads the spooled file at path under key and then removes
// it. A file no longer in the spool (uploaded by an earlier try whose job did not
// finish, or erased meanwhile) is not an error when its object is there or the
// recording was erased; it is fs.ErrNotExist otherwise.
func (s *SpooledStore) Put(ctx context.Context, key, path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if ok, err := s.Remote.Exists(ctx, key); err != nil {
			s.observer().RecordingFailed("upload")
			return err
		} else if ok {
			return nil
		}
		return fmt.Errorf("recording %s: %w", key, fs.ErrNotExist)
	}
	if err := s.Remote.Put(ctx, key, path); err != nil {
		s.observer().RecordingFailed("upload")
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recording %s: uploaded, but not removed from the spool: %w", key, err)
	}
	return nil
}

// Open implements Store: the spooled file while it waits for its upload, the object
// after.
func (s *SpooledStore) Open(ctx context.Context, key string) (Object, error) {
	o, err := FileStore{Dir: s.Dir}.Open(ctx, key)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return o, err
	}
	return s.Remote.Open(ctx, key)
}

// Delete implements Store: the spooled file and the object.
func (s *SpooledStore) Delete(ctx context.Context, key string) error {
	return errors.Join(FileStore{Dir: s.Dir}.Delete(ctx, key), s.Remote.Delete(ctx, key))
}
