package adf_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/adf"
	"github.com/leadline/leadline/adf/adftest"
)

// hostile is text that must come out escaped: markup, an entity, a CDATA end, quotes,
// control characters and a character XML cannot hold.
const hostile = `<b>&amp; "quoted" 'single' ]]> &lt; a` + "\x00\x07\x1b" + ` tab	end` + "\uFFFE"

func fullEntry() adf.Entry {
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	return adf.Entry{
		IDs:         []adf.ID{{Value: "0193f0c2-7d3a-7b6e-9a51-2f1c3d4e5f60", Source: "Leadline"}, {Value: "as24:123", Source: "autoscout24"}},
		RequestDate: time.Date(2026, 11, 27, 10, 0, 0, 0, ams),
		Vehicles: []adf.Vehicle{
			{Interest: "buy", Status: "used", Year: "2024", Make: "Volvo", Model: "XC60", Trim: "T6", Stock: "123", VIN: "YV1UZA8V1P1234567"},
			{Interest: "trade-in", Model: "Golf & Polo <old>"},
		},
		Customer: adf.Customer{
			Contact: adf.Contact{
				Name: "Eva Jänsen-O'Brien", Email: "eva@example.nl",
				Phones: []adf.Phone{{Number: "+31612345678", Type: "cellphone", Time: "evening", Preferred: true}, {Number: "+31201234567"}},
			},
			Comments: "Line one with " + hostile + "\nLeadline: completed.",
		},
		Vendor:   adf.Vendor{Name: "Autohuis Jansen & Zn.", Contact: adf.Contact{Name: "Autohuis Jansen & Zn.", Phones: []adf.Phone{{Number: "+31201234567", Type: "voice"}}}},
		Provider: &adf.Provider{Name: "Leadline", Service: "website (form)", URL: "https://leadline.example"},
	}
}

// Write's output validates against the ADF 1.0 DTD (xmllint), with every kind of
// content: a full prospect, hostile text, attributes the DTD does not allow (left out),
// an update (status="resend") and a prospect with nothing known.
func TestWriteValidates(t *testing.T) {
	adftest.Xmllint(t)
	odd := fullEntry()
	odd.Resend = true
	odd.Vehicles = []adf.Vehicle{{Interest: "window-shopping", Status: "demo", Model: hostile}}
	odd.Customer.Contact.Phones = []adf.Phone{{Number: "06-12345678", Type: "mobile", Time: "lunch"}}
	odd.Customer.Contact.Name = hostile
	for _, tc := range []struct {
		name string
		doc  adf.Document
	}{
		{"full", adf.Document{Prospects: []adf.Entry{fullEntry()}}},
		{"odd values", adf.Document{Prospects: []adf.Entry{odd}}},
		{"nothing known", adf.Document{Prospects: []adf.Entry{{}}}},
		{"email only", adf.Document{Prospects: []adf.Entry{{Customer: adf.Customer{Contact: adf.Contact{Email: "a@b.nl"}}}}}},
		{"two prospects", adf.Document{Prospects: []adf.Entry{fullEntry(), odd}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := adf.Write(&b, tc.doc); err != nil {
				t.Fatal(err)
			}
			adftest.Valid(t, b.Bytes())
			if strings.Contains(b.String(), "<b>") || strings.Contains(b.String(), "\x00") || strings.Contains(b.String(), "window-shopping") {
				t.Errorf("unescaped text or a disallowed attribute value in:\n%s", b.String())
			}
		})
	}
}

// The check above is a real one: xmllint refuses a document the DTD does not allow
// (a vehicle without year, make and model), so a writer that left them out would fail.
func TestDTDRefusesInvalid(t *testing.T) {
	adftest.Xmllint(t)
	var b bytes.Buffer
	if err := adf.Write(&b, adf.Document{Prospects: []adf.Entry{fullEntry()}}); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(b.String(), "<year>2024</year>", "", 1)
	if msg := adftest.Check(t, []byte(bad)); !strings.Contains(msg, "vehicle") {
		t.Errorf("xmllint accepted a vehicle without a year: %q", msg)
	}
}

// adf.Parse reads back what adf.Write wrote: the same prospect, field by field, and the
// lead Parse's caller makes of it.
func TestWriteRoundTrip(t *testing.T) {
	e := fullEntry()
	e.Customer.Comments = "Wants a test drive on Saturday & <asap>.\nLeadline: completed, taken by Piet."
	var b bytes.Buffer
	if err := adf.Write(&b, adf.Document{Prospects: []adf.Entry{e}}); err != nil {
		t.Fatal(err)
	}
	ps, err := adf.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d prospects read back", len(ps))
	}
	p := ps[0]
	checks := []struct{ field, got, want string }{
		{"id", p.ID, e.IDs[0].Value},
		{"id source", p.IDSource, "Leadline"},
		{"requestdate", p.RequestDate, "2026-11-27T10:00:00+01:00"},
		{"name", p.Name, e.Customer.Contact.Name},
		{"email", p.Email, e.Customer.Contact.Email},
		{"comments", p.Comments, e.Customer.Comments},
		{"vendor", p.Vendor, e.Vendor.Name},
		{"provider", p.Provider, "Leadline"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: read back %q, wrote %q", c.field, c.got, c.want)
		}
	}
	if len(p.Phones) != 2 || p.Phones[0] != (adf.Phone{Number: "+31612345678", Type: "cellphone", Time: "evening", Preferred: true}) ||
		p.Phones[1].Number != "+31201234567" {
		t.Errorf("phones read back %+v", p.Phones)
	}
	if len(p.Vehicles) != 2 || p.Vehicles[0] != e.Vehicles[0] || p.Vehicles[1].Model != "Golf & Polo <old>" || p.Vehicles[1].Interest != "trade-in" {
		t.Errorf("vehicles read back %+v", p.Vehicles)
	}
	l := p.Lead()
	if l.Phone != "+31612345678" || l.ExternalID != "Leadline:"+e.IDs[0].Value ||
		l.Interest != "2024 Volvo XC60 T6 (stock 123, VIN YV1UZA8V1P1234567); trade-in: Golf & Polo <old>" {
		t.Errorf("lead read back %+v", l)
	}
}

func TestWriteNeedsAProspect(t *testing.T) {
	if err := adf.Write(&bytes.Buffer{}, adf.Document{}); !errors.Is(err, adf.ErrNoProspect) {
		t.Errorf("Write of no prospect: %v, want ErrNoProspect", err)
	}
}
