package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/simphone"
)

// TestReportCommand: after a lead that piet's busy phone passed on to the owner, who
// took it, `leadline report` and GET /v1/reports/people say so, from the same store.
func TestReportCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 100 * time.Millisecond, Code: 486})
	owner := newPhone(t, "owner", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	carrier.Behave("+31612345678", simphone.Behaviour{Ring: 100 * time.Millisecond, HangUp: 500 * time.Millisecond})
	spec := appSpec{
		db: filepath.Join(t.TempDir(), "leadline.db"), nodeID: "report",
		rtp: rtpMail, trunk: carrier.Addr().String(),
		people: []person{{"piet", "Piet de Vries", piet.URI()}, {"owner", "Jan Jansen", owner.URI()}},
		flow:   "[piet, owner]",
	}
	ta := startTestApp(t, spec)
	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678", "source": "website"})
	if l := ta.waitFinal(t, id, 30*time.Second); l.Status != "completed" {
		t.Fatalf("lead %s: %v", l.Status, summarize(l))
	}

	req, _ := http.NewRequest(http.MethodGet, ta.base+"/v1/reports/people", nil)
	req.Header.Set("X-API-Key", testKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var people struct {
		Leads  int `json:"leads"`
		People []struct {
			Person                  string
			Offered, Accepted, Busy int
			ToOwner                 int `json:"to_owner"`
		} `json:"people"`
	}
	err = json.NewDecoder(res.Body).Decode(&people)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || people.Leads != 1 || len(people.People) != 2 ||
		people.People[0].Person != "piet" || people.People[0].Busy != 1 || people.People[0].ToOwner != 1 ||
		people.People[1].Person != "owner" || people.People[1].Accepted != 1 {
		t.Errorf("GET /v1/reports/people: %d %v %+v", res.StatusCode, err, people)
	}

	cfgPath := filepath.Join(t.TempDir(), "leadline.yaml")
	if err := os.WriteFile(cfgPath, spec.yaml(t), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"report", "--config", cfgPath, "--dealer", testDealer}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("leadline report: exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"jansen: 1 leads from", "piet (Piet de Vries)", "owner (Jan Jansen)", "website"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	t.Logf("leadline report:\n%s", out)
	if code := run(context.Background(), []string{"report", "--config", cfgPath}, func(string) string { return "" }, &stdout, &stderr); code != 1 {
		t.Errorf("without --dealer: exit %d, want 1", code)
	}
}
