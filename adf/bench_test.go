package adf

import (
	"os"
	"testing"
)

// BenchmarkParse reads a typical lead of about 2 KB (two vehicles, address, comments,
// vendor and provider) and makes its Lead.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/bench-typical.adf")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		ps, err := Parse(data)
		if err != nil || len(ps) != 1 {
			b.Fatal(ps, err)
		}
		_ = ps[0].Lead()
	}
}
