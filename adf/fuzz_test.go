package adf

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse and Find never panic, that Parse returns prospects or an
// error, never both or neither, that what it keeps is clean text, and that every
// prospect's Lead keeps Lead's promises. It is seeded with the fixtures and a few
// shapes they do not have; testdata/fuzz/FuzzParse holds what earlier runs found.
func FuzzParse(f *testing.F) {
	for _, path := range fixtures(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"<adf><prospect><customer><contact><name part=first>A<name part=last>B<phone>1",
		"<adf><prospect><id source=\"s\">1</id><id>2</id><prospect><vehicle><vehicle/>",
		"&lt;adf&gt;&lt;prospect&gt;&lt;customer&gt;&lt;comments&gt;&amp;lt;x&amp;gt;",
		"<?adf?><prospect><comments>a<br>b<p>c</comments><customer><comments><![CDATA[x",
		"\xff\xfe<\x00a\x00d\x00f\x00>\x00",
		"<?xml encoding=\"koi8-r\"?><adf><prospect><customer><name>\xf0\xf2\xe9</name>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		Find(data)
		ps, err := Parse(data)
		if (err == nil) == (len(ps) == 0) {
			t.Fatalf("Parse = %d prospects, error %v", len(ps), err)
		}
		for _, p := range ps {
			for _, s := range []string{p.ID, p.IDSource, p.RequestDate, p.Name, p.Email, p.Vendor, p.Provider} {
				checkText(t, s, false)
			}
			checkText(t, p.Comments, true)
			for _, ph := range p.Phones {
				checkText(t, ph.Number, false)
				checkText(t, ph.Type, false)
				checkText(t, ph.Time, false)
			}
			for _, v := range p.Vehicles {
				for _, s := range []string{v.Interest, v.Status, v.Year, v.Make, v.Model, v.Trim, v.Stock, v.VIN} {
					checkText(t, s, false)
				}
			}
			checkLead(t, p.Lead())
		}
	})
}

// checkText fails t unless s is valid UTF-8, trimmed, and free of invisible characters
// (but for line breaks when lines is set).
func checkText(tb testing.TB, s string, lines bool) {
	tb.Helper()
	if !utf8.ValidString(s) || s != strings.TrimSpace(s) {
		tb.Errorf("%q is not valid, trimmed UTF-8", s)
	}
	for _, r := range s {
		if (invisible(r) || r == '\r' || r == '\n') && !(lines && r == '\n') {
			tb.Errorf("%q holds %U", s, r)
		}
	}
}
