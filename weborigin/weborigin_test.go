package weborigin_test

import (
	"testing"

	"github.com/leadline/leadline/weborigin"
)

func TestCanonical(t *testing.T) {
	for _, tc := range []struct {
		in   string
		page bool
		want string // "" for an error
	}{
		{"https://www.example.nl", false, "https://www.example.nl"},
		{" HTTPS://WWW.Example.NL:443/ ", false, "https://www.example.nl"},
		{"http://example.nl:80", false, "http://example.nl"},
		{"http://example.nl:8080", false, "http://example.nl:8080"},
		{"https://[2001:DB8::1]:8443", false, "https://[2001:db8::1]:8443"},
		{"https://www.example.nl/contact?car=xc60#form", true, "https://www.example.nl"},
		{"https://www.example.nl/contact", false, ""},
		{"null", false, ""},
		{"null", true, ""},
		{"ftp://example.nl", false, ""},
		{"https://user:pw@example.nl", false, ""},
		{"https://*.example.nl", false, ""},
		{"https://example.nl:99999", false, ""},
		{"mailto:x@example.nl", true, ""},
		{"https://", false, ""},
	} {
		got, err := weborigin.Canonical(tc.in, tc.page)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("Canonical(%q, %v) = %q, %v; want %q", tc.in, tc.page, got, err, tc.want)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"https://www.example.nl", "http://[::1]:80/x", "null", "https://a:0"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, page bool) {
		got, err := weborigin.Canonical(s, page)
		if err != nil {
			return
		}
		// Canonical is a fixed point: an origin stays what it is.
		if again, err := weborigin.Canonical(got, false); err != nil || again != got {
			t.Errorf("Canonical(%q) = %q, but Canonical(%q) = %q, %v", s, got, got, again, err)
		}
	})
}
