package mailin

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

// SMTP dialogs as data (testdata/dialogs/*.dlg, after chasquid's minor dialogs): each
// file is one conversation with the receiver, a line at a time:
//
//	c -> TEXT        send TEXT and CRLF
//	c => "QUOTED"    send the Go-quoted bytes as they are (bare LF, NUL…)
//	c -> @FILE       send testdata/FILE as message data: CRLF line ends, dots
//	                 stuffed, then the end-of-data line
//	c -> #big N      send N bytes of message lines
//	c -> #rcpts N ADDR CODE   send RCPT TO:<ADDR> N times, each answered CODE
//	c <~ CODE        read a reply (all its lines) and expect CODE
//
// Comment lines say why the case exists; "# expect: submitted=N rejected=N refused=N"
// is what the dialer must have been handed afterwards, and "# store: down" makes the
// intake fail as a store that went away does.

// fakeIntake records what the receiver hands the dialer.
type fakeIntake struct {
	mu        sync.Mutex
	down      bool
	submitted []dialer.LeadInput
	rejected  []dialer.Rejection
	refused   int
}

func (f *fakeIntake) Submit(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return dialer.Lead{}, 0, fmt.Errorf("submit: %w: connection refused", dialer.ErrUnavailable)
	}
	f.submitted = append(f.submitted, in)
	return dialer.Lead{ID: fmt.Sprintf("lead-%d", len(f.submitted))}, dialer.OutcomeCreated, nil
}

func (f *fakeIntake) Reject(_ context.Context, r dialer.Rejection) (dialer.Rejection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return dialer.Rejection{}, fmt.Errorf("reject: %w", dialer.ErrUnavailable)
	}
	r.ID = fmt.Sprintf("rejection-%d", len(f.rejected)+1)
	f.rejected = append(f.rejected, r)
	return r, nil
}

func (f *fakeIntake) Refused(string, dialer.Channel) {
	f.mu.Lock()
	f.refused++
	f.mu.Unlock()
}

// testMailbox is the dealer the dialogs write to.
var testMailbox = Mailbox{
	Dealer: "jansen", Address: "jansen@leads.example.com",
	Senders: []string{"crm@autohuisjansen.nl", "*@autoscout24.com"},
}

// startServer runs a receiver on loopback with the test mailbox until the test ends.
func startServer(t *testing.T, in Intake, mutate ...func(*Config)) *Server {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Domain: "leads.example.com", MaxBytes: 64 << 10, Timeout: 10 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := Listen(cfg, in)
	if err != nil {
		t.Fatal(err)
	}
	s.SetMailboxes([]Mailbox{testMailbox})
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func TestDialogs(t *testing.T) {
	files, err := filepath.Glob("testdata/dialogs/*.dlg")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dialogs: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".dlg"), func(t *testing.T) {
			t.Parallel()
			script, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in := &fakeIntake{}
			var want string
			for _, line := range strings.Split(string(script), "\n") {
				switch {
				case strings.HasPrefix(line, "# expect: "):
					want = strings.TrimPrefix(line, "# expect: ")
				case line == "# store: down":
					in.down = true
				}
			}
			s := startServer(t, in)
			runDialog(t, s.Addr().String(), string(script))
			in.mu.Lock()
			got := fmt.Sprintf("submitted=%d rejected=%d refused=%d", len(in.submitted), len(in.rejected), in.refused)
			in.mu.Unlock()
			if got != want {
				t.Errorf("dialer was handed %s; want %s", got, want)
			}
		})
	}
}

// runDialog plays script against the server at addr.
func runDialog(t *testing.T, addr, script string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	send := func(b []byte) {
		if _, err := conn.Write(b); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	expect := func(n int, code string) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("line %d: reading the reply: %v", n, err)
			}
			if len(line) < 4 || line[:3] != code {
				t.Fatalf("line %d: reply %q, want %s", n, strings.TrimSpace(line), code)
			}
			if line[3] == ' ' {
				return
			}
		}
	}
	for n, line := range strings.Split(script, "\n") {
		n++
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "c <~ "):
			expect(n, strings.TrimPrefix(line, "c <~ "))
		case strings.HasPrefix(line, "c => "):
			b, err := strconv.Unquote(strings.TrimPrefix(line, "c => "))
			if err != nil {
				t.Fatalf("line %d: %v", n, err)
			}
			send([]byte(b))
		case strings.HasPrefix(line, "c -> @"):
			raw, err := os.ReadFile(filepath.Join("testdata", strings.TrimPrefix(line, "c -> @")))
			if err != nil {
				t.Fatal(err)
			}
			send(dataOf(raw))
		case strings.HasPrefix(line, "c -> #big "):
			size, _ := strconv.Atoi(strings.TrimPrefix(line, "c -> #big "))
			l := strings.Repeat("x", 76) + "\r\n"
			send([]byte("Subject: big\r\n\r\n" + strings.Repeat(l, size/len(l)+1)))
		case strings.HasPrefix(line, "c -> #rcpts "):
			f := strings.Fields(strings.TrimPrefix(line, "c -> #rcpts "))
			count, _ := strconv.Atoi(f[0])
			for range count {
				send([]byte("RCPT TO:<" + f[1] + ">\r\n"))
				expect(n, f[2])
			}
		case line == "c ->":
			send([]byte("\r\n"))
		case strings.HasPrefix(line, "c -> "):
			send([]byte(strings.TrimPrefix(line, "c -> ") + "\r\n"))
		default:
			t.Fatalf("line %d: cannot read %q", n, line)
		}
	}
}

// dataOf is raw as DATA sends it: CRLF line ends, dot-stuffed, with the end marker.
func dataOf(raw []byte) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(strings.TrimRight(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n"), "\n") {
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l + "\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// The lead of an ADF mail is handed over with how it arrived: channel, sender,
// Message-ID, a key that makes the same message one lead, the original and when it
// arrived.
func TestSubmittedLead(t *testing.T) {
	in := &fakeIntake{}
	s := startServer(t, in)
	runDialog(t, s.Addr().String(), "c <~ 220\nc -> HELO x\nc <~ 250\nc -> MAIL FROM:<bounce@mailer.example>\nc <~ 250\n"+
		"c -> RCPT TO:<jansen@leads.example.com>\nc <~ 250\nc -> DATA\nc <~ 354\nc -> @adf-lead.eml\nc <~ 250\n")
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.submitted) != 1 {
		t.Fatalf("%d leads submitted, want 1", len(in.submitted))
	}
	l := in.submitted[0]
	if l.Channel != dialer.ChannelEmail || l.Sender != "crm@autohuisjansen.nl" || l.MessageID != "lead-0001@crm.autohuisjansen.nl" ||
		l.IdempotencyKey != "msgid:lead-0001@crm.autohuisjansen.nl" || l.ReceivedAt.IsZero() ||
		l.Original == nil || !bytes.Contains(l.Original.Body, []byte("<adf>")) {
		t.Errorf("lead as handed over: %+v", l)
	}
	if l.Name != "Eva Jansen" || l.Phone != "06-12345678" {
		t.Errorf("lead fields: name %q, phone %q", l.Name, l.Phone)
	}
}

// Same message, same key: the dialer sees one Message-ID twice and makes one lead.
func TestMessageKey(t *testing.T) {
	raw := []byte("Subject: x\r\n\r\nno id\r\n")
	if a, b := messageKey("", raw, 0, 1), messageKey("", raw, 0, 1); a != b || !strings.HasPrefix(a, "msgid:sha256:") {
		t.Errorf("keys of a message without Message-ID: %q, %q", a, b)
	}
	if k := messageKey(strings.Repeat("a", 300)+"@x", raw, 1, 2); len(k) > 255 || !strings.HasSuffix(k, "#2") {
		t.Errorf("long Message-ID key %q", k)
	}
}

func TestSmuggled(t *testing.T) {
	for in, want := range map[string]bool{
		"a\r\n.\r\nb":  false, // cannot reach Data (it ends DATA); harmless if it did
		"a\r\n..\r\nb": false,
		"a\n.\nb":      true,
		"a\r\n.\nb":    true,
		"a\n.\r\nb":    true,
		"a\r.\rb":      true,
		"a.b\n":        false,
		"x\r\n.x\r\n":  false,
	} {
		if got := smuggled([]byte(in)); got != want {
			t.Errorf("smuggled(%q) = %v, want %v", in, got, want)
		}
	}
}
