package adftest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// DTD returns the path of the ADF 1.0 DTD Leadline validates against (with the fixes
// its header lists).
func DTD(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("adftest: cannot find its own source file")
	}
	p := filepath.Join(filepath.Dir(file), "..", "testdata", "adf-1.0.dtd")
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("adftest: %v", err)
	}
	return p
}

// Xmllint returns the path of xmllint, or skips the test when it is not installed.
func Xmllint(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("xmllint")
	if err != nil {
		tb.Skip("xmllint is not installed: ADF documents are validated with it (Debian package libxml2-utils; scripts/deps.sh)")
	}
	return p
}

// Check validates doc against the ADF 1.0 DTD with xmllint and returns what xmllint
// says; "" when the document is valid (xmllint exited 0 and said nothing, not even a
// warning about the DTD).
func Check(tb testing.TB, doc []byte) string {
	tb.Helper()
	bin, dtd := Xmllint(tb), DTD(tb)
	f := filepath.Join(tb.TempDir(), "adf.xml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(bin, "--noout", "--nonet", "--dtdvalid", dtd, f).CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if err != nil && msg == "" {
		msg = err.Error()
	}
	return msg
}

// Valid fails the test when doc does not validate against the ADF 1.0 DTD.
func Valid(tb testing.TB, doc []byte) {
	tb.Helper()
	if msg := Check(tb, doc); msg != "" {
		tb.Fatalf("the ADF does not validate against the ADF 1.0 DTD:\n%s\n---- document ----\n%s", msg, doc)
	}
}
