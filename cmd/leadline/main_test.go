package main

import (
	"os"
	"testing"
)

// TestMain removes the binary buildLeadline made once the package's tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
