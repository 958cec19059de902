package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// tool returns the path of an installed command, or skips the test.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package %s; scripts/deps.sh installs it)", name, pkg)
	}
	return p
}

func runTool(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func TestPromtoolCheckConfig(t *testing.T) {
	runTool(t, "prometheus", tool(t, "promtool", "prometheus"), "check", "config", "prometheus.yml")
}

func TestPromtoolCheckRules(t *testing.T) {
	runTool(t, "prometheus", tool(t, "promtool", "prometheus"), "check", "rules", "alerts.yml")
}

// TestPromtoolTestRules runs the alert rules' unit tests (prometheus/alerts_test.yml).
func TestPromtoolTestRules(t *testing.T) {
	runTool(t, "prometheus", tool(t, "promtool", "prometheus"), "test", "rules", "alerts_test.yml")
}

// TestEveryAlertTestedAndDocumented: each alert has a unit test that expects it to
// fire, and a section in docs/operations.md saying what to do.
func TestEveryAlertTestedAndDocumented(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert string }
		}
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	fires := map[string]bool{}
	for _, tt := range tests.Tests {
		for _, a := range tt.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	ops, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s: no test in alerts_test.yml expects it to fire", r.Alert)
			}
			if !bytes.Contains(ops, []byte("### "+r.Alert+"\n")) {
				t.Errorf("alert %s: no section \"### %s\" in docs/operations.md", r.Alert, r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts in alerts.yml")
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestComposeConfig has docker-compose validate ../docker-compose.yml. No Docker engine
// is needed for that; Debian's docker-compose 1.29 or the `docker compose` plugin does it.
func TestComposeConfig(t *testing.T) {
	if p, err := exec.LookPath("docker-compose"); err == nil {
		runTool(t, "..", p, "-f", "docker-compose.yml", "config", "-q")
		return
	}
	if p, err := exec.LookPath("docker"); err == nil && exec.Command(p, "compose", "version").Run() == nil {
		runTool(t, "..", p, "compose", "-f", "docker-compose.yml", "config", "-q")
		return
	}
	t.Skip("neither docker-compose (Debian package docker-compose) nor the docker compose plugin is installed")
}

// compose is the part of docker-compose.yml the structural test reads.
type compose struct {
	Services map[string]struct {
		Image       string   `yaml:"image"`
		Build       any      `yaml:"build"`
		NetworkMode string   `yaml:"network_mode"`
		Volumes     []string `yaml:"volumes"`
		Command     []string `yaml:"command"`
	} `yaml:"services"`
}

// TestComposeStructure checks what docker-compose does not: pinned image tags, the
// services the documentation names, phones sharing leadline's network, and mounts of
// files that exist.
func TestComposeStructure(t *testing.T) {
	var c compose
	readYAML(t, "../docker-compose.yml", &c)
	for _, name := range []string{"postgres", "leadline", "phones", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[0-9][0-9A-Za-z.-]*$|^[a-z0-9./-]+:v[0-9][0-9A-Za-z.-]*$`)
	for name, s := range c.Services {
		switch {
		case s.Build != nil:
			if strings.Contains(s.Image, "/") {
				t.Errorf("service %s builds image %q, which looks like a registry image", name, s.Image)
			}
		case !pinned.MatchString(s.Image):
			t.Errorf("service %s: image %q has no pinned version tag", name, s.Image)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./") {
				continue // a named volume
			}
			if _, err := os.Stat("../" + src); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
	if got := c.Services["phones"].NetworkMode; got != "service:leadline" {
		t.Errorf("phones network_mode %q: the simulated phones' media is on 127.0.0.1, so they must share leadline's", got)
	}
	if cmd := c.Services["phones"].Command; !slices.Equal(cmd[:1], []string{"phones"}) {
		t.Errorf("phones service runs %v, want leadline phones", cmd)
	}
}

// TestDockerfile checks the image's promises: a static binary, a non-root user, and
// base images named with a version.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for _, want := range []string{"CGO_ENABLED=0", "go build", "./cmd/leadline", "espeak-ng"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1][1], "root") || strings.HasPrefix(users[len(users)-1][1], "0") {
		t.Errorf("Dockerfile's final USER %v: want a non-root user", users)
	}
	for _, m := range regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1) {
		if !strings.Contains(m[1], ":") || strings.HasSuffix(m[1], ":latest") {
			t.Errorf("FROM %s: name a version", m[1])
		}
	}
}
