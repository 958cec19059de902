package mailout_test

import (
	"context"
	"errors"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/mailout"
	"github.com/leadline/leadline/mailout/smtptest"
)

// testMessage is a small mail to send.
func testMessage(t *testing.T, id string) []byte {
	t.Helper()
	b, err := mailout.Message{
		From: mail.Address{Name: "Leadline", Address: "leadline@leads.example.com"}, To: []string{"leads@crm.example.com"},
		Subject: "Test " + id, Date: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), MessageID: id + "@leads.example.com",
		Text: "Hello.\n.A line that starts with a dot.\n",
	}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func send(t *testing.T, raw string, o mailout.Options, msg []byte) error {
	t.Helper()
	r, err := mailout.New(raw, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return r.Send(ctx, "leadline@leads.example.com", []string{"leads@crm.example.com"}, msg)
}

// A relay on loopback is used in plain, without AUTH when no user is given: the message
// arrives byte for byte (a line starting with a dot included).
func TestSendLoopbackPlain(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	msg := testMessage(t, "plain")
	if err := send(t, "smtp://"+srv.Addr, mailout.Options{}, msg); err != nil {
		t.Fatal(err)
	}
	ms := srv.Wait(t, 1, 5*time.Second)
	if string(ms[0].Raw) != string(msg) {
		t.Errorf("arrived:\n%q\nsent:\n%q", ms[0].Raw, msg)
	}
	if ms[0].From != "leadline@leads.example.com" || len(ms[0].To) != 1 || ms[0].To[0] != "leads@crm.example.com" || ms[0].TLS || ms[0].Auth != "" {
		t.Errorf("envelope %+v", ms[0])
	}
}

// A relay by name (not loopback to the rules, though the test dials it there) gets
// STARTTLS with its certificate verified, then AUTH PLAIN, or LOGIN when it offers only
// that; smtps:// gets TLS from the first byte. The password may hold characters a URL
// must escape.
func TestSendTLSAndAuth(t *testing.T) {
	cert, key, pool := smtptest.Certificate(t, "relay.test")
	o := mailout.Options{RootCAs: pool, Dial: smtptest.DialAs()}
	for _, tc := range []struct {
		name   string
		scheme string
		srv    smtptest.Options
	}{
		{"starttls and plain", "smtp", smtptest.Options{Cert: cert, Key: key, RequireTLS: true, User: "leadline", Password: "p@ss:w/rd"}},
		{"starttls and login", "smtp", smtptest.Options{Cert: cert, Key: key, RequireTLS: true, User: "leadline", Password: "p@ss:w/rd", NoPlain: true}},
		{"implicit tls", "smtps", smtptest.Options{Cert: cert, Key: key, ImplicitTLS: true, User: "leadline", Password: "p@ss:w/rd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.srv)
			raw := tc.scheme + "://leadline:p%40ss%3Aw%2Frd@relay.test:" + strconv.Itoa(srv.Port)
			if err := send(t, raw, o, testMessage(t, "tls")); err != nil {
				t.Fatal(err)
			}
			ms := srv.Wait(t, 1, 5*time.Second)
			if !ms[0].TLS || ms[0].Auth != "leadline" {
				t.Errorf("arrived with tls %v, authenticated as %q", ms[0].TLS, ms[0].Auth)
			}
		})
	}
}

// What must not happen: a relay off this machine that offers no STARTTLS gets neither
// the password nor the mail; a certificate that does not verify (unknown issuer, or
// another name) stops the mail; wrong credentials are the relay's refusal, with its code.
func TestSendRefused(t *testing.T) {
	cert, key, pool := smtptest.Certificate(t, "relay.test")
	_, _, otherPool := smtptest.Certificate(t, "relay.test")
	dial := smtptest.DialAs()
	for _, tc := range []struct {
		name     string
		srv      smtptest.Options
		url      string // %d: the port
		o        mailout.Options
		wantErr  string
		wantCode int
	}{
		{"no starttls off loopback", smtptest.Options{}, "smtp://u:secret@relay.test:%d",
			mailout.Options{RootCAs: pool, Dial: dial}, "STARTTLS", 0},
		{"unknown issuer", smtptest.Options{Cert: cert, Key: key}, "smtp://u:secret@relay.test:%d",
			mailout.Options{RootCAs: otherPool, Dial: dial}, "certificate", 0},
		{"another name", smtptest.Options{Cert: cert, Key: key}, "smtp://u:secret@other.test:%d",
			mailout.Options{RootCAs: pool, Dial: dial}, "certificate", 0},
		{"implicit tls, unknown issuer", smtptest.Options{Cert: cert, Key: key, ImplicitTLS: true}, "smtps://relay.test:%d",
			mailout.Options{RootCAs: otherPool, Dial: dial}, "certificate", 0},
		{"wrong password", smtptest.Options{Cert: cert, Key: key, User: "u", Password: "right"}, "smtp://u:secret@relay.test:%d",
			mailout.Options{RootCAs: pool, Dial: dial}, "535", 535},
		{"auth required, none given", smtptest.Options{User: "u", Password: "right"}, "smtp://127.0.0.1:%d",
			mailout.Options{}, "530", 530},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.srv)
			err := send(t, strings.Replace(tc.url, "%d", strconv.Itoa(srv.Port), 1), tc.o, testMessage(t, "refused"))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one about %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the password: %v", err)
			}
			if got := mailout.Code(err); got != tc.wantCode {
				t.Errorf("code %d, want %d", got, tc.wantCode)
			}
			if ms := srv.Messages(t); len(ms) != 0 {
				t.Errorf("%d message(s) arrived", len(ms))
			}
		})
	}
}

// A relay that refuses the message (451, 551) or is not there (connection refused)
// fails the Send with its reply code (0 without one); the next Send to a relay that
// takes it succeeds.
func TestSendFailsThenSucceeds(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Fail: 2, FailWith: "551 5.7.1 Relaying denied for now"})
	for i := range 2 {
		err := send(t, "smtp://"+srv.Addr, mailout.Options{}, testMessage(t, "again"))
		if mailout.Code(err) != 551 {
			t.Fatalf("try %d: %v, want a 551", i+1, err)
		}
	}
	if err := send(t, "smtp://"+srv.Addr, mailout.Options{}, testMessage(t, "again")); err != nil {
		t.Fatal(err)
	}
	if ms := srv.Wait(t, 1, 5*time.Second); len(ms) != 1 {
		t.Errorf("%d messages", len(ms))
	}

	port := smtptest.FreePort(t)
	err := send(t, "smtp://127.0.0.1:"+strconv.Itoa(port), mailout.Options{}, testMessage(t, "down"))
	if err == nil || mailout.Code(err) != 0 || !strings.Contains(err.Error(), "connect") {
		t.Errorf("a relay that is not there: %v", err)
	}
}

// A relay that takes the connection and says nothing fails the Send at the time limit,
// not never.
func TestSendTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	err = send(t, "smtp://"+l.Addr().String(), mailout.Options{Timeout: 300 * time.Millisecond}, testMessage(t, "slow"))
	if err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("a silent relay: %v", err)
	}
}

// Relay URLs: the schemes and their ports, what is shown, and errors that never hold
// the password.
func TestNew(t *testing.T) {
	for _, tc := range []struct{ raw, shown, security string }{
		{"smtp://smtp.example.com", "smtp://smtp.example.com:587", "STARTTLS"},
		{"smtp://user:pw@smtp.example.com:2525", "smtp://user@smtp.example.com:2525", "STARTTLS, AUTH as user"},
		{"smtps://user:pw@smtp.example.com", "smtps://user@smtp.example.com:465", "TLS, AUTH as user"},
		{"smtp://127.0.0.1:25", "smtp://127.0.0.1:25", "plain (loopback)"},
		{"smtp://localhost", "smtp://localhost:587", "plain (loopback)"},
		{"smtp://[::1]:25", "smtp://[::1]:25", "plain (loopback)"},
		{"smtps://127.0.0.1", "smtps://127.0.0.1:465", "TLS"},
	} {
		r, err := mailout.New(tc.raw, mailout.Options{})
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if r.String() != tc.shown || r.Security() != tc.security {
			t.Errorf("%s: shown %q (%s), want %q (%s)", tc.raw, r, r.Security(), tc.shown, tc.security)
		}
	}
	for _, raw := range []string{
		"http://u:secret@smtp.example.com", "smtp://u:secret@", "smtp://u:secret@host:99999", "smtp://u:secret@host/path",
		"smtp://u@host", "smtp://u:secret@host?x=1", "smtp://u:secret@host:port",
	} {
		_, err := mailout.New(raw, mailout.Options{})
		if !errors.Is(err, mailout.ErrRelayURL) {
			t.Errorf("%s: %v, want ErrRelayURL", raw, err)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", raw, err)
		}
	}
}
