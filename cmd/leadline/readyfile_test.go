package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

// `serve --ready-file` writes the addresses it serves on once it serves, and removes
// the file as it starts to drain on SIGTERM.
func TestServeReadyFile(t *testing.T) {
	t.Parallel() // mostly waiting on a process: runs beside the others
	if testing.Short() {
		t.Skip("runs the real binary; skipped with -short")
	}
	bin := buildLeadline(t)
	busy := phone(t, "busy", simphone.Behaviour{Code: 486})
	cfg := fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
sip: {listen: "127.0.0.1:0", rtp_ports: "25500-25599"}
store: "sqlite://%s/leadline.db"
dealers:
  - id: jansen
    api_keys: [%q]
    caller_id: "+31201234567"
    people: [{id: piet, phone: %q}]
    flow: [piet]
`, t.TempDir(), mnKey, busy.URI())
	n := runServe(t, bin, "ready", cfg)

	data, err := os.ReadFile(n.ready)
	if err != nil {
		t.Fatal(err)
	}
	var got readyInfo
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("ready file %q: %v", data, err)
	}
	if got.HTTP == "" || got.SIP == "" || got.SMTP != "" || got.PID != n.cmd.Process.Pid {
		t.Errorf("ready file %s", data)
	}
	res, err := http.Get("http://" + got.HTTP + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/readyz at the ready file's address: %d", res.StatusCode)
	}

	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait.Closed(t, n.done, 30*time.Second, "serve to stop after SIGTERM")
	if _, err := os.Stat(n.ready); !os.IsNotExist(err) {
		t.Errorf("ready file still there after SIGTERM (%v)", err)
	}
}
