// Package s3test runs a real S3-compatible server on loopback for tests: npm's s3rver
// (server/), run by node. It serves path-style bucket addresses and reads minio-go's
// signature version 4 headers, refusing an unknown access key; it does not verify the
// v4 signature itself (unimplemented in s3rver 3.7.1), nor decode aws-chunked uploads. Tests that need it are skipped when node or npm is
// missing (scripts/deps.sh installs Debian's nodejs and npm); its npm package is
// installed on first use (npm ci).
package s3test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/npmtest"
)

// Server is a running s3rver.
type Server struct {
	// Endpoint is host:port on loopback (plain HTTP).
	Endpoint string
	// Bucket exists from the start.
	Bucket string
	// AccessKey and SecretKey are s3rver's account.
	AccessKey, SecretKey string
	// Dir is where s3rver keeps the objects: "<dir>/<bucket>/<key>._S3rver_object".
	Dir string

	in io.WriteCloser
}

// Start runs s3rver with bucket until the test ends.
func Start(tb testing.TB, bucket string) *Server {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Skip("node is not installed: the S3 tests run npm's s3rver (Debian packages nodejs and npm; scripts/deps.sh)")
	}
	dir := serverDir(tb)
	npmtest.Install(tb, dir, "s3rver", "the S3 tests")
	data := tb.TempDir()
	cmd := exec.Command(node, "serve.js", data, bucket)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting s3rver: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s := &Server{Bucket: bucket, AccessKey: "S3RVER", SecretKey: "S3RVER", Dir: data, in: in}
	tb.Cleanup(func() { s.stop(done, cmd) })
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		tb.Fatalf("s3rver did not start: %v", err)
	}
	var ready struct{ Port int }
	if err := json.Unmarshal(line, &ready); err != nil || ready.Port == 0 {
		tb.Fatalf("s3rver said %q: %v", line, err)
	}
	go io.Copy(io.Discard, out) //nolint:errcheck // nothing more is said
	s.Endpoint = "127.0.0.1:" + strconv.Itoa(ready.Port)
	return s
}

func (s *Server) stop(done chan struct{}, cmd *exec.Cmd) {
	s.in.Close() // s3rver ends at the end of its input
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// serverDir is the folder of serve.js and its npm package, next to this file.
func serverDir(tb testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("s3test: cannot find its own source folder")
	}
	return filepath.Join(filepath.Dir(file), "server")
}
