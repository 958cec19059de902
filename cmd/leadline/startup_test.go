package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestServeStartupErrors starts serve with each dependency it cannot have: the answer
// is exit code 1 and a message that names the cause, never a panic (a nil app's close
// used to hide every one of these).
func TestServeStartupErrors(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "leadline.yaml")
	if err := os.WriteFile(cfgPath, appSpec{rtp: "21300-21399", people: []person{{"piet", "Piet", "sip:piet@127.0.0.1:5999"}}, flow: "[piet]"}.yaml(t), 0o600); err != nil {
		t.Fatal(err)
	}
	// A file where the store's folder should be: no user, root included, can create the
	// database under it.
	notADir := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	// A port nothing listens on: PostgreSQL there refuses the connection.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name string
		env  map[string]string
		want []string // in the message on stderr
	}{
		{"store path not writable", map[string]string{"LEADLINE_STORE": "sqlite://" + filepath.Join(notADir, "leadline.db")},
			[]string{"store (sqlite)", "plain-file"}},
		{"postgres unreachable", map[string]string{"LEADLINE_STORE": "postgres://leadline@" + closedAddr + "/leadline?sslmode=disable&connect_timeout=5"},
			[]string{"store (postgres)", "connect"}},
		{"http port in use", map[string]string{"LEADLINE_HTTP_LISTEN": tcp.Addr().String()},
			[]string{"http:", tcp.Addr().String(), "in use"}},
		{"sip port in use", map[string]string{"LEADLINE_SIP_LISTEN": udp.LocalAddr().String()},
			[]string{"sip:", udp.LocalAddr().String(), "in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"LEADLINE_STORE": "sqlite://" + filepath.Join(t.TempDir(), "leadline.db")}
			for k, v := range tt.env {
				env[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := run(ctx, []string{"serve", "--config", cfgPath}, func(k string) string { return env[k] }, &stdout, &stderr)
			msg := stderr.String()
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", code, msg)
			}
			last := msg[strings.LastIndex(strings.TrimSuffix(msg, "\n"), "\n")+1:]
			if !strings.HasPrefix(last, "leadline: ") {
				t.Errorf("last line of stderr %q does not say what failed", last)
			}
			for _, w := range tt.want {
				if !strings.Contains(last, w) {
					t.Errorf("message %q does not mention %q", last, w)
				}
			}
		})
	}
}

// TestVersion: both spellings print one line naming the build's module version and Go.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{arg}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", arg, code, stderr.String())
		}
		out := stdout.String()
		if !strings.HasPrefix(out, "leadline ") || !strings.HasSuffix(out, runtime.Version()+"\n") || strings.Count(out, "\n") != 1 {
			t.Errorf("%s printed %q; want one line: leadline <version> … %s", arg, out, runtime.Version())
		}
	}
}

// TestServeHelp: serve --help lists every LEADLINE_* variable with what it replaces.
func TestServeHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"serve", "--help"}, func(string) string { return "" }, &stdout, &stderr)
	for _, want := range []string{"LEADLINE_STORE", "store", "LEADLINE_EMAIL_LISTEN", "email.listen", "SIGHUP"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("serve --help lacks %q:\n%s", want, stderr.String())
		}
	}
}
