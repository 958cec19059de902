package recording

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Store keeps finished recordings by key ("<dealer>/<lead id>.wav").
type Store interface {
	// Put keeps the finished recording at path under key. A store that keeps the
	// files where they were written does nothing.
	Put(ctx context.Context, key, path string) error
	// Open returns the recording kept under key; fs.ErrNotExist when there is none.
	Open(ctx context.Context, key string) (Object, error)
	// Delete removes the recording under key; a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// Object is an opened recording.
type Object interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// FileStore keeps recordings in a directory, where the Recorder wrote them.
type FileStore struct{ Dir string }

func (s FileStore) file(key string) (string, error) {
	if !fs.ValidPath(key) {
		return "", fs.ErrNotExist
	}
	return filepath.Join(s.Dir, filepath.FromSlash(key)), nil
}

// Put implements Store: a file already in Dir stays; another is moved there.
func (s FileStore) Put(_ context.Context, key, path string) error {
	dst, err := s.file(key)
	if err != nil {
		return err
	}
	if dst == filepath.Clean(path) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	return os.Rename(path, dst)
}

type fileObject struct {
	*os.File
	st fs.FileInfo
}

func (o fileObject) Size() int64        { return o.st.Size() }
func (o fileObject) ModTime() time.Time { return o.st.ModTime() }

// Open implements Store.
func (s FileStore) Open(_ context.Context, key string) (Object, error) {
	p, err := s.file(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return fileObject{f, st}, nil
}

// Delete implements Store.
func (s FileStore) Delete(_ context.Context, key string) error {
	p, err := s.file(key)
	if err != nil {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
