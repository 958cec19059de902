package recording_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/leadline/leadline/recording"
	"github.com/leadline/leadline/recording/s3test"
)

func s3Store(t *testing.T, srv *s3test.Server) *recording.S3Store {
	t.Helper()
	s, err := recording.NewS3Store(recording.S3Config{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: "calls/nl", Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestS3Store runs the S3 store against s3rver on loopback (signature v4, path-style):
// an upload is read back whole and by ranges, and deleted; an unknown key is refused.
func TestS3Store(t *testing.T) {
	srv := s3test.Start(t, "recordings")
	s := s3Store(t, srv)
	ctx := t.Context()
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	file := filepath.Join(t.TempDir(), "x.wav")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	const key = "jansen/lead-1.wav"
	if _, err := s.Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open before upload: %v; want fs.ErrNotExist", err)
	}
	if err := s.Put(ctx, key, file); err != nil {
		t.Fatal(err)
	}
	// Where s3rver keeps it: under the prefix.
	if _, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, "calls", "nl", "jansen", "lead-1.wav._S3rver_object")); err != nil {
		t.Errorf("s3rver's copy of the object: %v", err)
	}
	o, err := s.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(got, data) || o.Size() != int64(len(data)) {
		t.Fatalf("read back %d bytes (%v), size %d; want %d", len(got), err, o.Size(), len(data))
	}
	// A range, as http.ServeContent reads one: seek to its start, read its length.
	if _, err := o.Seek(40_000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 1000)
	if _, err := io.ReadFull(o, part); err != nil || !bytes.Equal(part, data[40_000:41_000]) {
		t.Fatalf("range 40000-40999: %v, equal %v", err, bytes.Equal(part, data[40_000:41_000]))
	}
	o.Close()
	if ok, err := s.Exists(ctx, key); !ok || err != nil {
		t.Errorf("Exists: %v, %v", ok, err)
	}
	// s3rver reads the signature v4 Authorization header and refuses an unknown access
	// key, but does not check the signature itself (its v4 check is unimplemented).
	wrong, err := recording.NewS3Store(recording.S3Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Insecure: true, AccessKey: "NOBODY", SecretKey: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Put(ctx, "jansen/lead-2.wav", file); err == nil {
		t.Error("an upload with an unknown access key was taken: no credentials reach the server")
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Exists(ctx, key); ok || err != nil {
		t.Errorf("Exists after Delete: %v, %v", ok, err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
}

// TestSpooledStore: a spooled recording is served from the spool until its upload,
// which removes it there, and from the bucket after; a second upload of it (a job run
// twice) is not an error, one of a file never uploaded and gone is fs.ErrNotExist.
func TestSpooledStore(t *testing.T) {
	srv := s3test.Start(t, "recordings")
	dir := t.TempDir()
	s := &recording.SpooledStore{Dir: dir, Remote: s3Store(t, srv)}
	ctx := t.Context()
	const key = "jansen/lead-1.wav"
	file := filepath.Join(dir, "jansen", "lead-1.wav")
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("RIFF spooled"), 0o600); err != nil {
		t.Fatal(err)
	}
	read := func() string {
		t.Helper()
		o, err := s.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		b, _ := io.ReadAll(o)
		return string(b)
	}
	if got := read(); got != "RIFF spooled" {
		t.Fatalf("before the upload: %q", got)
	}
	if err := s.Put(ctx, key, file); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the spooled file after its upload: %v; want it removed", err)
	}
	if got := read(); got != "RIFF spooled" {
		t.Fatalf("after the upload: %q", got)
	}
	if err := s.Put(ctx, key, file); err != nil {
		t.Errorf("a second upload of an uploaded recording: %v", err)
	}
	if err := s.Put(ctx, "jansen/lead-9.wav", filepath.Join(dir, "jansen", "lead-9.wav")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("upload of a recording neither spooled nor uploaded: %v; want fs.ErrNotExist", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Delete: %v", err)
	}
}

func TestSpoolQueue(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	q1, err := recording.SpoolQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	q2, err := recording.SpoolQueue(dir)
	if err != nil || q2 != q1 || len(q1) != len("recordings_")+16 {
		t.Fatalf("SpoolQueue twice: %q, %q (%v)", q1, q2, err)
	}
	if q3, _ := recording.SpoolQueue(t.TempDir()); q3 == q1 {
		t.Errorf("two spool directories share the queue %s", q1)
	}
}
