package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/leadline/leadline/simphone"
)

// TestMailKill9: `leadline serve` is killed (SIGKILL: no drain) while four SMTP clients
// deliver mails to it. After a restart on the same SQLite file, the clients deliver
// again every mail they did not see a 250 for, as a sending server does, and every tenth
// one besides (a 250 lost on the way); then every mail is a lead exactly once: none the
// server said 250 to is lost, none is doubled.
func TestMailKill9(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	if testing.Short() {
		t.Skip("runs the real binary; skipped with -short")
	}
	bin := buildLeadline(t)
	busy := phone(t, "piet", simphone.Behaviour{Code: 486}) // flows end at once
	db := filepath.Join(t.TempDir(), "leadline.db")
	cfg := string(appSpec{
		nodeID: "mailkill", rtp: "24900-24999", db: db, people: []person{{"piet", "Piet", busy.URI()}}, flow: "[piet]",
		extra: `email: {listen: "127.0.0.1:0", domain: leads.example.com, rate_limit_per_sender: "100000/1h", rate_limit_per_dealer: "100000/1h"}` +
			"\nmax_leads_per_number_per_day: 1000",
		dealerExtra: `    email: {senders: ["crm@autohuisjansen.nl"]}`,
	}.yaml(t))

	const mails = 200
	var (
		mu       sync.Mutex
		acked    = map[int]bool{} // mails the server said 250 to
		acks     atomic.Int32
		deliver  func(addr string, ids <-chan int)
		sendMail = func(c *smtp.Client, i int) error {
			if err := c.Mail("crm@autohuisjansen.nl", nil); err != nil {
				return err
			}
			if err := c.Rcpt("jansen@leads.example.com", nil); err != nil {
				return err
			}
			w, err := c.Data()
			if err != nil {
				return err
			}
			// No ADF <id>: the Message-ID alone must make a mail sent twice one lead.
			fmt.Fprintf(w, strings.Replace(benchMail, "<id source=\"crm.autohuisjansen.nl\">B-%d</id>", "<!-- %d -->", 1),
				fmt.Sprintf("kill-%d@crm.autohuisjansen.nl", i), i, 5000000+i)
			return w.Close()
		}
	)
	deliver = func(addr string, ids <-chan int) {
		var c *smtp.Client
		for i := range ids {
			if c == nil {
				var err error
				if c, err = smtp.Dial(addr); err != nil {
					continue // the server is gone: this mail waits for the retry
				}
			}
			if err := sendMail(c, i); err != nil {
				c.Close()
				c = nil
				continue
			}
			mu.Lock()
			acked[i] = true
			mu.Unlock()
			acks.Add(1)
		}
		if c != nil {
			c.Close()
		}
	}

	first := runServe(t, bin, "before", cfg)
	ids := make(chan int)
	var senders sync.WaitGroup
	for range 4 {
		senders.Add(1)
		go func() { defer senders.Done(); deliver(first.smtp, ids) }()
	}
	killed := false
	for i := range mails {
		if !killed && acks.Load() >= 40 {
			first.kill() // mid-stream: some mails are in DATA right now
			killed = true
		}
		ids <- i
	}
	close(ids)
	senders.Wait()
	if !killed {
		t.Fatal("every mail was delivered before the kill; nothing was tested")
	}
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	t.Logf("%d of %d mails acknowledged before the kill", before, mails)

	second := runServe(t, bin, "after", cfg)
	retry := make(chan int)
	go func() {
		defer close(retry)
		for i := range mails {
			mu.Lock()
			done := acked[i]
			mu.Unlock()
			// Every tenth mail is sent again although it was acknowledged, as by a
			// server whose connection broke before it read the 250.
			if !done || i%10 == 0 {
				retry <- i
			}
		}
	}()
	deliver(second.smtp, retry)
	mu.Lock()
	if len(acked) != mails {
		t.Fatalf("only %d of %d mails were acknowledged after the retry", len(acked), mails)
	}
	mu.Unlock()

	count := map[string]int{}
	for cursor := ""; ; {
		var page struct {
			Leads []struct {
				MessageID string `json:"message_id"`
			} `json:"leads"`
			NextCursor string `json:"next_cursor"`
		}
		req, _ := http.NewRequest(http.MethodGet, second.base+"/v1/leads?limit=100&cursor="+url.QueryEscape(cursor), nil)
		req.Header.Set("X-API-Key", mnKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/leads: %d %v", res.StatusCode, err)
		}
		for _, l := range page.Leads {
			count[l.MessageID]++
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	for i := range mails {
		if n := count[fmt.Sprintf("<kill-%d@crm.autohuisjansen.nl>", i)] + count[fmt.Sprintf("kill-%d@crm.autohuisjansen.nl", i)]; n != 1 {
			t.Errorf("mail %d is %d leads, want exactly 1", i, n)
		}
	}
	if len(count) != mails {
		t.Errorf("%d distinct leads, want %d", len(count), mails)
	}
}
