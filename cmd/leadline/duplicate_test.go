package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

// rtpDuplicate is TestDuplicateJoinsEndToEnd's RTP range (see harness_test.go).
const rtpDuplicate = "24200-24299"

// joinedView is what a lead shows of the posts that joined it.
type joinedView struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Name       string `json:"name"`
	Duplicates []struct {
		ReceivedAt time.Time `json:"received_at"`
		Name       string    `json:"name"`
		Interest   string    `json:"interest"`
		ExternalID string    `json:"external_id"`
	} `json:"duplicates"`
}

func (ta *testApp) joined(t testing.TB, id string) joinedView {
	t.Helper()
	var v joinedView
	ta.leadAs(t, id, &v)
	return v
}

// Issue 7 end to end, with the configuration's default duplicate window (1h): a second
// post for a number, in another notation, while its lead rings the salesperson, joins
// that lead. The salesperson gets one INVITE; GET shows the second post.
func TestDuplicateJoinsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true}) // rings until the ring timeout
	ta := startTestApp(t, appSpec{
		rtp:    rtpDuplicate,
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[piet]",
	})
	first := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678", "interest": "Volvo XC60"})
	wait.For(t, 10*time.Second, "piet's phone to ring", func() bool { return len(piet.Calls()) == 1 })

	status, header, body := ta.post(t, testKey, "application/json",
		`{"name":"Eva J.","phone":"+31 6 1234 5678","interest":"Volvo EX30","external_id":"crm-2"}`)
	var answer joinedView
	if err := json.Unmarshal(body, &answer); err != nil || status != http.StatusAccepted {
		t.Fatalf("second post: %d %v: %s", status, err, body)
	}
	if got := header.Get(api.HeaderJoined); got != first || answer.ID != first {
		t.Errorf("second post answered lead %s with %s %q; want the first lead, %s", answer.ID, api.HeaderJoined, got, first)
	}
	if len(answer.Duplicates) != 1 || answer.Duplicates[0].Name != "Eva J." {
		t.Errorf("answer's duplicates %+v", answer.Duplicates)
	}
	// A retry of the second post is a repeat of the lead it joined.
	status, header, body = ta.post(t, testKey, "application/json", `{"phone":"06-12345678","external_id":"crm-2"}`)
	if err := json.Unmarshal(body, &answer); err != nil || status != http.StatusOK || header.Get("Idempotent-Replayed") != "true" || answer.ID != first {
		t.Errorf("retry of the joined post: %d %v %s", status, err, body)
	}

	l := ta.waitFinal(t, first, 30*time.Second)
	if l.Status != "exhausted" {
		t.Errorf("lead %s (%s), want exhausted", l.Status, l.Reason)
	}
	if n := len(piet.Calls()); n != 1 {
		t.Errorf("piet got %d INVITEs, want 1", n)
	}
	got := ta.joined(t, first)
	if got.Name != "Eva Jansen" || len(got.Duplicates) != 1 {
		t.Fatalf("GET: %+v; want the first post's lead with the second among its duplicates", got)
	}
	if d := got.Duplicates[0]; d.Name != "Eva J." || d.Interest != "Volvo EX30" || d.ExternalID != "crm-2" || d.ReceivedAt.IsZero() {
		t.Errorf("duplicate %+v", d)
	}
	page := ta.metrics(t)
	for series, want := range map[string]float64{
		`leadline_leads_received_total{dealer="jansen"}`: 1,
		`leadline_leads_joined_total{dealer="jansen"}`:   1,
	} {
		if v, ok := metricValue(page, series); !ok || v != want {
			t.Errorf("%s = %v (found %v), want %v", series, v, ok, want)
		}
	}
}
