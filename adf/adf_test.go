package adf

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/leadline/leadline/dialer"
)

var update = flag.Bool("update", false, "rewrite the .json of every fixture from what Lead gives")

// fixtures returns the inputs in testdata: NN-name.{adf,xml,txt,html}, each with a
// .readme and either a .json (the Lead of each prospect) or an .error (a substring of
// Parse's error).
func fixtures(tb testing.TB) []string {
	tb.Helper()
	var in []string
	for _, ext := range []string{"adf", "xml", "txt", "html"} {
		m, err := filepath.Glob(filepath.Join("testdata", "[0-9][0-9]-*."+ext))
		if err != nil {
			tb.Fatal(err)
		}
		in = append(in, m...)
	}
	if len(in) == 0 {
		tb.Fatal("no fixtures in testdata")
	}
	return in
}

func TestFixtures(t *testing.T) {
	for _, path := range fixtures(t) {
		base := strings.TrimSuffix(path, filepath.Ext(path))
		t.Run(filepath.Base(base), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if readme, err := os.ReadFile(base + ".readme"); err != nil || len(bytes.TrimSpace(readme)) == 0 {
				t.Errorf("%s.readme is missing or empty", base)
			}
			ps, err := Parse(data)
			if want, rerr := os.ReadFile(base + ".error"); rerr == nil {
				if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(string(want))) {
					t.Fatalf("Parse error = %v, want one containing %q", err, strings.TrimSpace(string(want)))
				}
				if ps != nil {
					t.Errorf("Parse returned %d prospects with its error", len(ps))
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !Find(data) {
				t.Errorf("Find = false for a document Parse reads")
			}
			leads := make([]dialer.LeadInput, len(ps))
			for i, p := range ps {
				leads[i] = p.Lead()
				checkLead(t, leads[i])
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(leads); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			if *update {
				if err := os.WriteFile(base+".json", got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(base + ".json")
			if err != nil {
				t.Fatalf("no .json or .error for %s (run with -update and check what it writes)", path)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("leads differ from %s.json\ngot:\n%s\nwant:\n%s", base, got, want)
			}
		})
	}
}

// checkLead fails t unless l keeps the promises of Lead.
func checkLead(tb testing.TB, l dialer.LeadInput) {
	tb.Helper()
	fields := []struct {
		name  string
		val   string
		limit int
	}{
		{"phone", l.Phone, maxPhone}, {"name", l.Name, maxName}, {"email", l.Email, maxEmail},
		{"source", l.Source, maxSource}, {"interest", l.Interest, maxInterest},
		{"message", l.Message, maxMessage}, {"external_id", l.ExternalID, maxExternalID},
		{"assigned_to", l.AssignedTo, 0}, {"idempotency_key", l.IdempotencyKey, 0},
	}
	for _, f := range fields {
		if !utf8.ValidString(f.val) {
			tb.Errorf("%s %q is not valid UTF-8", f.name, f.val)
		}
		if n := utf8.RuneCountInString(f.val); n > f.limit {
			tb.Errorf("%s has %d characters, more than %d", f.name, n, f.limit)
		}
		if f.val != strings.TrimSpace(f.val) {
			tb.Errorf("%s %q is not trimmed", f.name, f.val)
		}
		for _, r := range f.val {
			if r == '\n' && f.name == "message" {
				continue
			}
			if invisible(r) || r == '\n' || r == '\r' {
				tb.Errorf("%s %q holds %U", f.name, f.val, r)
			}
		}
	}
	if l.Email != "" && validEmail(l.Email) != l.Email {
		tb.Errorf("email %q is not one the dialer accepts", l.Email)
	}
}

// TestLimitsMatchDialer holds Lead's limits to the dialer's: a value at the limit
// passes the dialer's length check, one character more does not.
func TestLimitsMatchDialer(t *testing.T) {
	d := &dialer.Dealer{ID: "d"}
	for _, c := range []struct {
		field string
		limit int
		set   func(*dialer.LeadInput, string)
	}{
		{"phone", maxPhone, func(l *dialer.LeadInput, s string) { l.Phone = s }},
		{"name", maxName, func(l *dialer.LeadInput, s string) { l.Name = s }},
		{"email", maxEmail, func(l *dialer.LeadInput, s string) { l.Email = s }},
		{"source", maxSource, func(l *dialer.LeadInput, s string) { l.Source = s }},
		{"interest", maxInterest, func(l *dialer.LeadInput, s string) { l.Interest = s }},
		{"message", maxMessage, func(l *dialer.LeadInput, s string) { l.Message = s }},
		{"external_id", maxExternalID, func(l *dialer.LeadInput, s string) { l.ExternalID = s }},
	} {
		for _, n := range []int{c.limit, c.limit + 1} {
			var in dialer.LeadInput
			c.set(&in, strings.Repeat("é", n))
			_, err := d.Validate(in)
			var ve *dialer.ValidationError
			tooLong := errors.As(err, &ve) && strings.Contains(ve.Error(), c.field+": is longer than")
			if tooLong != (n > c.limit) {
				t.Errorf("%s of %d characters: dialer says %v", c.field, n, err)
			}
		}
	}
}

// TestProspectFields checks what Parse keeps beyond what Lead uses.
func TestProspectFields(t *testing.T) {
	data, err := os.ReadFile("testdata/07-phones.adf")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Phone{
		{Number: "020-555 0199", Type: "fax", Preferred: true},
		{Number: "(020) 555-0100 ext. 12", Type: "voice", Time: "morning"},
		{Number: "020 555 0177", Type: "pager"},
		{Number: "+31 6 5555 0123", Type: "cellphone", Time: "evening", Preferred: true},
		{Number: "06-5555 0456", Type: "cellphone"},
	}
	if !reflect.DeepEqual(ps[0].Phones, want) {
		t.Errorf("phones = %+v\nwant %+v", ps[0].Phones, want)
	}
	if ps[0].Email != "pieter@example" {
		t.Errorf("email = %q, want the first one that parses", ps[0].Email)
	}

	data, err = os.ReadFile("testdata/08-vehicles.adf")
	if err != nil {
		t.Fatal(err)
	}
	ps, err = Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	wantV := []Vehicle{
		{Interest: "trade-in", Status: "used", Year: "2015", Make: "Honda", Model: "Civic"},
		{Interest: "buy", Status: "new", Year: "2024", Make: "Volvo", Model: "XC60", Trim: "T6", Stock: "123", VIN: "YV4L12RK1R1234567"},
		{Interest: "test-drive", Status: "new", Year: "2025", Make: "Volvo", Model: "Volvo EX30 Ultra", Trim: "Ultra"},
		{Interest: "buy", Status: "used", Stock: "U-55"},
	}
	if !reflect.DeepEqual(ps[0].Vehicles, wantV) {
		t.Errorf("vehicles = %+v\nwant %+v", ps[0].Vehicles, wantV)
	}

	data, err = os.ReadFile("testdata/19-mail-body.txt")
	if err != nil {
		t.Fatal(err)
	}
	ps, err = Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if p := ps[0]; p.ID != "CP-77-0042" || p.IDSource != "CarPortal" || p.RequestDate != "2026-12-05T16:45:00+01:00" ||
		p.Vendor != "BMW Autohaus Nord" || p.Provider != "CarPortal" {
		t.Errorf("prospect = %+v", p)
	}
}

func TestBestPhone(t *testing.T) {
	for _, c := range []struct {
		name   string
		phones []Phone
		want   string
	}{
		{"none", nil, ""},
		{"first of equals", []Phone{{Number: "1"}, {Number: "2"}}, "1"},
		{"preferred", []Phone{{Number: "1"}, {Number: "2", Preferred: true}}, "2"},
		{"voice over fax", []Phone{{Number: "1", Type: "fax"}, {Number: "2", Type: "voice"}}, "2"},
		{"voice over preferred fax", []Phone{{Number: "1", Type: "fax", Preferred: true}, {Number: "2"}}, "2"},
		{"pager over nothing", []Phone{{Number: "1", Type: "pager"}}, "1"},
		{"preferred pager over pager", []Phone{{Number: "1", Type: "pager"}, {Number: "2", Type: "Pager", Preferred: true}}, "2"},
		{"unknown types are callable", []Phone{{Number: "1", Type: "homefax"}, {Number: "2", Type: "mobile"}}, "2"},
		{"no digits skipped", []Phone{{Number: "N/A", Preferred: true}, {Number: " - "}, {Number: "3"}}, "3"},
		{"whitespace collapsed", []Phone{{Number: " (555)\n 010\t0100 "}}, "(555) 010 0100"},
		{"cut at limit", []Phone{{Number: "+1 555 010 0100 ext 1234 or 555 010 0199"}}, "+1 555 010 0100 ext 1234 or 555"},
		{"cut before a digit run", []Phone{{Number: "+1 (555) 010-0100 / +1 (555) 0100199"}}, "+1 (555) 010-0100 / +1 (555)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := bestPhone(c.phones); got != c.want {
				t.Errorf("bestPhone = %q, want %q", got, c.want)
			}
		})
	}
}

func TestExternalID(t *testing.T) {
	long := strings.Repeat("9", 300)
	for _, c := range []struct{ source, id, want string }{
		{"", "", ""},
		{"AutoTrader", "", ""}, // a source without an id names no lead
		{"", " 42 ", "42"},
		{"AutoTrader", "42", "AutoTrader:42"},
		{" Auto\tTrader ", "4\n2", "Auto Trader:4 2"},
		{"X", long, "sha256:"},
	} {
		got := externalID(c.source, c.id)
		if c.want == "sha256:" {
			if !strings.HasPrefix(got, "sha256:") || len(got) != len("sha256:")+64 {
				t.Errorf("externalID(%q, long) = %q, want a sha256 key", c.source, got)
			}
			if got == externalID(c.source, long+"0") || got != externalID(c.source, long) {
				t.Errorf("long ids must keep apart and stay stable")
			}
			continue
		}
		if got != c.want {
			t.Errorf("externalID(%q, %q) = %q, want %q", c.source, c.id, got, c.want)
		}
	}
}

func TestLeadTruncates(t *testing.T) {
	p := Prospect{
		Name:     strings.Repeat("ä", 199) + "éé",
		Comments: strings.Repeat("line\n", 500),
		Provider: strings.Repeat("p", 99) + " €€",
		Vehicles: []Vehicle{{Year: "2024", Make: "Volvo", Model: strings.Repeat("X", 300)}},
		Email:    strings.Repeat("a", 250) + "@example.com",
	}
	l := p.Lead()
	checkLead(t, l)
	if utf8.RuneCountInString(l.Name) != maxName || !strings.HasSuffix(l.Name, "äé") {
		t.Errorf("name = %q, want the first 200 characters", l.Name)
	}
	if l.Source != strings.Repeat("p", 99) {
		t.Errorf("source = %q, want cut and trimmed", l.Source)
	}
	if l.Email != "" {
		t.Errorf("email = %q, want none: a cut address is another address", l.Email)
	}
	if utf8.RuneCountInString(l.Message) > maxMessage || strings.HasSuffix(l.Message, "\n") {
		t.Errorf("message of %d characters", utf8.RuneCountInString(l.Message))
	}
}

func TestInterest(t *testing.T) {
	for _, c := range []struct {
		vs   []Vehicle
		want string
	}{
		{nil, ""},
		{[]Vehicle{{Interest: "buy"}}, ""},
		{[]Vehicle{{Year: "2024", Make: "Volvo", Model: "XC60", Trim: "T6"}}, "2024 Volvo XC60 T6"},
		{[]Vehicle{{Make: "Volvo", Model: "volvo xc60"}}, "volvo xc60"},
		{[]Vehicle{{Make: "Volvo", Model: "Volvoxc"}}, "Volvo Volvoxc"},
		{[]Vehicle{{Model: "XC60", Stock: "1", VIN: "V"}}, "XC60 (stock 1, VIN V)"},
		{[]Vehicle{{VIN: "V"}}, "VIN V"},
		{[]Vehicle{{Interest: "sell", Model: "A"}, {Interest: "lease", Model: "B"}, {Model: "C"}}, "B; C; sell: A"},
	} {
		if got := interest(c.vs); got != c.want {
			t.Errorf("interest(%+v) = %q, want %q", c.vs, got, c.want)
		}
	}
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "",
		"  \n\n a  b \r\n\r\n\r\n\rc \n ":  "a b\n\nc",
		"x\u2028y\u2029z\u0085w":           "x\ny\nz\nw",
		"a\x00b\x1bc\u009bd\u202ee\ufefff": "abcdef",
		"bad \xff byte":                    "bad \uFFFD byte",
	} {
		if got := cleanText(in); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"plain":             "plain",
		" a  b\tc\nd\u00a0": "a b c d",
		"a\x7fb":            "ab",
	} {
		if got := cleanLine(in); got != want {
			t.Errorf("cleanLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFind(t *testing.T) {
	for in, want := range map[string]bool{
		"":                                   false,
		"<adf><prospect>":                    true,
		"junk <ADF >\n<Prospect status=new>": true,
		"<?ADF VERSION \"1.0\"?><PROSPECT>":  true,
		"<adf></adf>":                        false,
		"<prospect><adf>":                    false,
		"<adfx><prospect>":                   false,
		"<adf><prospects>":                   false,
		"&lt;adf&gt;\n&lt;prospect&gt;":      true,
		"&lt;?adf version=&quot;1.0&quot;?&gt;&lt;prospect status=&quot;new&quot;&gt;": true,
		"An ADF lead about a prospect": false,
	} {
		if got := Find([]byte(in)); got != want {
			t.Errorf("Find(%q) = %v, want %v", in, got, want)
		}
	}
	data, err := os.ReadFile("testdata/24-utf16.xml")
	if err != nil {
		t.Fatal(err)
	}
	if !Find(data) {
		t.Errorf("Find = false for UTF-16")
	}
	if Find(append([]byte("<adf><prospect>"), make([]byte, MaxSize)...)) {
		t.Errorf("Find = true for more than MaxSize")
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrNotADF},
		{"white space", " \r\n\t", ErrNotADF},
		{"no adf", "<prospect><customer/></prospect>", ErrNotADF},
		{"no prospect", "<adf></adf>", ErrNoProspect},
		{"only empty prospects", "<adf><prospect/><prospect>\n<id></id> </prospect></adf>", ErrNoProspect},
		{"too large", "<adf><prospect>" + strings.Repeat(" ", MaxSize), ErrTooLarge},
		{"too deep", "<adf>" + strings.Repeat("<a>", maxDepth), ErrTooComplex},
		{"too many tokens", "<adf><prospect><customer><contact><name>x</name><phone>1</phone></contact></customer>" +
			strings.Repeat("<x/>", maxTokens) + "</prospect></adf>", ErrTooComplex},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps, err := Parse([]byte(c.in))
			if !errors.Is(err, c.want) || ps != nil {
				t.Errorf("Parse = %v, %v; want %v", ps, err, c.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "parse adf: ") {
				t.Errorf("error %q lacks the operation prefix", err)
			}
		})
	}
	// Exactly at the limits is fine.
	in := "<adf><prospect><customer><contact><name>x</name></contact></customer></prospect>" +
		strings.Repeat("<a>", maxDepth-1)
	if _, err := Parse([]byte(in)); err != nil {
		t.Errorf("depth %d: %v", maxDepth, err)
	}
}

// TestNoEntityExpansion checks that Parse refuses a document that declares entities,
// and that the reader under it expands nothing the document defines, wherever the DTD
// stands (before <adf>, where reading skips it, or after the prolog, where the
// tokenizer meets it), and that a redefined HTML entity keeps its HTML meaning.
func TestNoEntityExpansion(t *testing.T) {
	lol := `<!DOCTYPE adf [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY amp "&e;"> <!eNtItY eacute "&e;">
 <!ENTITY xxe SYSTEM "file:///etc/passwd"> <!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;
]>`
	body := `<prospect><customer><contact><name>&e;&xxe;&amp;&eacute;</name><phone>1</phone></contact>` +
		`<comments>&e; &e; &e;</comments></customer></prospect>`
	for name, doc := range map[string]string{
		"dtd before adf":    `<?xml version="1.0"?>` + lol + `<adf>` + body + `</adf>`,
		"dtd in the prolog": `<?adf version="1.0"?>` + lol + body,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(doc)); !errors.Is(err, ErrEntities) {
				t.Errorf("Parse = %v, want ErrEntities", err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			data := []byte(doc)
			ps, err := walk(data[markerStart(data):])
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ps[0].Name, "&e;&xxe;&é"; got != want {
				t.Errorf("name = %q, want %q: nothing expanded, HTML entities as in HTML", got, want)
			}
			if got, want := ps[0].Comments, "&e; &e; &e;"; got != want {
				t.Errorf("comments = %q, want %q", got, want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("reading allocated %d bytes for a %d-byte document", alloc, len(doc))
			}
		})
	}
}

// TestLeadZero checks that the zero Prospect gives the zero lead.
func TestLeadZero(t *testing.T) {
	if l := (Prospect{}).Lead(); l != (dialer.LeadInput{}) {
		t.Errorf("Lead of nothing = %+v", l)
	}
}

func TestDeclaredEncoding(t *testing.T) {
	for in, want := range map[string]string{
		`<?xml version="1.0" encoding="windows-1252"?>`: "windows-1252",
		`<?XML ENCODING = 'ISO-8859-1' ?>`:              "ISO-8859-1",
		`junk <?xml version="1.0" encoding=latin1?>`:    "latin1",
		`<?xml version="1.0"?><a encoding="x">`:         "",
		`<?xml encoding`:                                "",
		"<?Xml \xb8enCoding":                            "", // found by FuzzParse: ToLower grew the text
		"<?xml \xb8\xb8 encoding=\"koi8-r\"?>":          "koi8-r",
	} {
		if got := declaredEncoding([]byte(in)); got != want {
			t.Errorf("declaredEncoding(%q) = %q, want %q", in, got, want)
		}
	}
}
