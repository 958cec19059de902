package npmtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Install runs `npm ci` in dir (a folder with package.json and package-lock.json)
// unless its node_modules already hold pkg; why says what the package is for, in the
// messages. Test binaries running at once take turns (a file lock), so one installs and
// the others find it installed. The test is skipped when npm is missing.
func Install(tb testing.TB, dir, pkg, why string) {
	tb.Helper()
	installed := func() bool {
		_, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json"))
		return err == nil
	}
	if installed() {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		tb.Skipf("npm is not installed: %s uses npm's %s (Debian packages nodejs and npm; scripts/deps.sh)", why, pkg)
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "leadline-npmtest-"+pkg+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		tb.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks too
	if installed() {
		return // another test binary installed it meanwhile
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("npm ci in %s (installs %s for %s): %v\n%s", dir, pkg, why, err, out)
	}
}
