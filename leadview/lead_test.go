package leadview_test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
)

// The API's golden tests (api/testdata) fix the whole object; this checks what
// leadview decides itself: times in UTC with three decimals, the speed to lead from the
// shown times, the channel of leads stored before channels, and no idempotency key.
func TestFromLead(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	l := dialer.Lead{
		ID: "ld_1", Dealer: "jansen", Status: dialer.StatusCompleted, Phone: "+31612345678",
		IdempotencyKey: "idem-must-not-show",
		CreatedAt:      time.Date(2026, 11, 27, 11, 0, 0, 999_999_999, cet),
		ConnectedAt:    time.Date(2026, 11, 27, 11, 0, 7, 412_999_999, cet),
	}
	b, err := json.Marshal(leadview.FromLead(l))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"ld_1","dealer":"jansen","status":"completed","phone":"+31612345678","channel":"api",` +
		`"created_at":"2026-11-27T10:00:00.999Z","connected_at":"2026-11-27T10:00:07.412Z","speed_to_lead_seconds":6.413}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// A lead as shown reads back from its JSON into the same value: the CRM mail is made
// from a webhook body, which is this JSON.
func TestReadBack(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	at := func(s int) time.Time { return time.Date(2026, 11, 27, 11, 0, s, 412_000_000, cet) }
	l := dialer.Lead{
		ID: "ld_1", Dealer: "jansen", Status: dialer.StatusCompleted, Phone: "+31612345678", Name: "Eva",
		Interest: "Volvo XC60", ExternalID: "as24:1", Channel: dialer.ChannelEmail,
		CreatedAt: at(0), ConnectedAt: at(7), EndedAt: at(59),
		Outcome:  dialer.CallOutcome{ID: "appointment", Person: "piet", At: at(59)},
		Attempts: []dialer.Attempt{{Leg: dialer.LegAgent, Person: "piet", Result: dialer.ResultAccepted, StartedAt: at(1), AnsweredAt: at(3), AcceptedAt: at(5), EndedAt: at(59)}},
	}
	want := leadview.FromLead(l)
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got leadview.Lead
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(got)
	if string(again) != string(b) {
		t.Errorf("read back and written again:\n got  %s\n want %s", again, b)
	}
	if !time.Time(got.ConnectedAt).Equal(at(7)) || !time.Time(got.Attempts[0].AcceptedAt).Equal(at(5)) {
		t.Errorf("times read back: %v, %v", got.ConnectedAt, got.Attempts[0].AcceptedAt)
	}
	var bad leadview.Time
	if err := json.Unmarshal([]byte(`"yesterday"`), &bad); err == nil {
		t.Error("a time that is no RFC 3339 time read without an error")
	}
}

// TestImports: of the project, leadview imports dialer only (doc.go).
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/leadline/leadline/") && p != "github.com/leadline/leadline/dialer" {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}
