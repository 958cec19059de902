package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/leadview"
)

// TestLocalExample follows the README's "Running it for real" on one machine: `leadline
// phones` with its built-in cast and `leadline serve --config deploy/local.yaml` (only
// the listen addresses and the store moved, by the documented LEADLINE_* variables).
// A lead for piet ends in a connected call; the form of docs/form-example.html, posted
// from an origin the example allows with its form key, is taken as a lead.
func TestLocalExample(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	uris := startPhones(t) // the built-in cast, on the ports deploy/local.yaml names
	if uris["piet"] != "sip:piet@127.0.0.1:5071" {
		t.Fatalf("phones: %v", uris)
	}
	const key = "local-example-0123456789"
	httpAddr := freeTCPAddr(t)
	env := map[string]string{
		"JANSEN_API_KEY":       key,
		"LEADLINE_HTTP_LISTEN": httpAddr,
		"LEADLINE_SIP_LISTEN":  "127.0.0.1:" + strconv.Itoa(freeSIPPort(t)),
		"LEADLINE_STORE":       "sqlite://" + filepath.Join(t.TempDir(), "leadline.db"),
	}
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	showLogs(t, "serve", &stderr)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", "../../deploy/local.yaml", "--drain", "1s"},
			func(k string) string { return env[k] }, &stderr, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	})
	base := "http://" + httpAddr
	wait.For(t, 30*time.Second, "serve to be ready", func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})

	req, _ := http.NewRequest(http.MethodPost, base+"/v1/leads", strings.NewReader(
		`{"name":"Eva Jansen","phone":"06-12345678","interest":"Volvo XC60","source":"website","assigned_to":"piet"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	var l leadview.Lead
	var got leadview.Lead
	postJSON(t, req, http.StatusAccepted, &l)
	wait.For(t, 30*time.Second, "piet to be connected to the customer", func() bool {
		var err error
		if l, err = getLead(ctx, base, key, l.ID); err != nil {
			t.Fatal(err)
		}
		return l.Status == "connected" || l.Status == "completed"
	})
	if len(l.Attempts) != 2 || l.Attempts[0].Person != "piet" || l.Attempts[1].Leg != "customer" {
		t.Errorf("attempts %+v", l.Attempts)
	}

	// The form, as docs/form-example.html posts it with fetch() from a page served on
	// localhost:8000.
	page, err := os.ReadFile("../../docs/form-example.html")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`name="form_key" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatal("docs/form-example.html has no form_key")
	}
	form := url.Values{"form_key": {string(m[1])}, "name": {"Daan de Wit"}, "phone": {"06-23456789"}}
	req, _ = http.NewRequest(http.MethodPost, base+"/v1/leads", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://localhost:8000")
	req.Header.Set("Idempotency-Key", "0b6c1f3e-8a4d-4e2b-9f1a-2c3d4e5f6a7b")
	var f leadview.Lead
	postJSON(t, req, http.StatusAccepted, &f)
	got, err = getLead(ctx, base, key, f.ID)
	if err != nil || got.Name != "Daan de Wit" || got.Channel != "form" {
		t.Errorf("form lead %+v, %v", got, err)
	}
}

// postJSON sends req and decodes its JSON answer into v, which must come with status.
func postJSON(t *testing.T, req *http.Request, status int, v any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil || res.StatusCode != status {
		t.Fatalf("POST %s: %d (want %d), %v", req.URL, res.StatusCode, status, err)
	}
}
