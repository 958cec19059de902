package api_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/leadline/leadline/dialer"
)

// TestLeadShowsChannel: every lead, in GET, list and POST answers, says how it arrived
// (channel, always), and who e-mailed it or which portal sent it (sender, message_id,
// when known); so does each duplicate. A lead stored before channels were recorded shows
// "api".
func TestLeadShowsChannel(t *testing.T) {
	type shown struct {
		Channel    *string `json:"channel"`
		Sender     *string `json:"sender"`
		MessageID  *string `json:"message_id"`
		Duplicates []struct {
			Channel   *string `json:"channel"`
			Sender    *string `json:"sender"`
			MessageID *string `json:"message_id"`
		} `json:"duplicates"`
	}
	str := func(p *string) string {
		if p == nil {
			return "<absent>"
		}
		return *p
	}
	tests := []struct {
		name                       string
		ch                         dialer.Channel
		sender, messageID          string
		wantCh, wantSender, wantID string
	}{
		{"unset", "", "", "", "api", "<absent>", "<absent>"},
		{"api", dialer.ChannelAPI, "", "", "api", "<absent>", "<absent>"},
		{"form", dialer.ChannelForm, "", "", "form", "<absent>", "<absent>"},
		{"email", dialer.ChannelEmail, "leads@autoscout24.com", "<a1@autoscout24.com>", "email", "leads@autoscout24.com", "<a1@autoscout24.com>"},
		{"imap", dialer.ChannelIMAP, "crm@jansen.nl", "<b2@jansen.nl>", "imap", "crm@jansen.nl", "<b2@jansen.nl>"},
		{"webhook", dialer.ChannelWebhook, "marktplaats", "evt-1", "webhook", "marktplaats", "evt-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := queuedLead(dialer.LeadInput{Channel: tt.ch, Sender: tt.sender, MessageID: tt.messageID})
			l.Duplicates = []dialer.Duplicate{{ReceivedAt: l.CreatedAt, Channel: tt.ch, Sender: tt.sender, MessageID: tt.messageID}}
			ts := newServer(t, &fakeLeads{
				GetFn: func(context.Context, string, string) (dialer.Lead, error) { return l, nil },
				ListFn: func(context.Context, dialer.ListQuery) ([]dialer.Lead, string, error) {
					return []dialer.Lead{l}, "", nil
				},
				SubmitFn: func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
					return l, dialer.OutcomeRepeat, nil
				},
			})
			auth := []string{"Authorization", "Bearer " + keyJansen}
			answers := map[string][]byte{
				"GET":  ts.do(t, "GET", "/v1/leads/ld_new", "", auth...).Body.Bytes(),
				"POST": ts.do(t, "POST", "/v1/leads", `{"phone":"0612345678"}`, append(auth, "Content-Type", "application/json")...).Body.Bytes(),
			}
			var page struct{ Leads []json.RawMessage }
			if err := json.Unmarshal(ts.do(t, "GET", "/v1/leads", "", auth...).Body.Bytes(), &page); err != nil || len(page.Leads) != 1 {
				t.Fatalf("list: %v %d leads", err, len(page.Leads))
			}
			answers["list"] = page.Leads[0]
			for what, body := range answers {
				var got shown
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("%s: %v: %s", what, err, body)
				}
				if str(got.Channel) != tt.wantCh || str(got.Sender) != tt.wantSender || str(got.MessageID) != tt.wantID {
					t.Errorf("%s: channel %s, sender %s, message_id %s; want %s, %s, %s: %s", what,
						str(got.Channel), str(got.Sender), str(got.MessageID), tt.wantCh, tt.wantSender, tt.wantID, body)
				}
				if what == "list" {
					continue // a list shows no duplicates
				}
				if len(got.Duplicates) != 1 {
					t.Fatalf("%s: duplicates %s", what, body)
				}
				d := got.Duplicates[0]
				if str(d.Channel) != tt.wantCh || str(d.Sender) != tt.wantSender || str(d.MessageID) != tt.wantID {
					t.Errorf("%s: duplicate's channel %s, sender %s, message_id %s; want %s, %s, %s", what,
						str(d.Channel), str(d.Sender), str(d.MessageID), tt.wantCh, tt.wantSender, tt.wantID)
				}
			}
		})
	}
}
