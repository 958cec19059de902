package leadmail

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtract: whatever the bytes, Extract does not panic and returns either leads the
// dialer takes (checkInvariants) or a NoLeadError. Seeded with every fixture; crashers
// found are kept in testdata/fuzz/FuzzExtract.
func FuzzExtract(f *testing.F) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(raw) <= 64<<10 { // the 1,000-part mail makes every exec slow
			f.Add(raw)
		}
	}
	f.Add([]byte("From: a@b.nl\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n--y\r\n\r\n<adf>"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := Extract(raw, testRules)
		checkInvariants(t, res, err)
	})
}
