package main

import (
	"encoding/json"
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
	cfg := appSpec{nodeID: "ready", rtp: "25500-25599", people: []person{{"piet", "Piet", busy.URI()}}, flow: "[piet]"}.yaml(t)
	n := runServe(t, bin, "ready", string(cfg))

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
