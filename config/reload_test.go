package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/leadline/leadline/config"
)

func TestRestartNeeded(t *testing.T) {
	base := `
http: {listen: ":8080"}
sip: {listen: "0.0.0.0:5060", rtp_ports: "10000-20000"}
store: "sqlite://leadline.db"
` + minimal
	parse := func(y string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(y), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	running := parse(base)
	tests := []struct {
		name string
		next string
		want []string
	}{
		{"unchanged", base, nil},
		{"a dealer only", strings.Replace(base, "flow: [owner]", "flow: [owner]\n    ring_timeout: 25s", 1), nil},
		{"listeners, ports and store", strings.NewReplacer(
			`":8080"`, `":8081"`, `"0.0.0.0:5060"`, `"0.0.0.0:5070"`, `"10000-20000"`, `"10000-10999"`,
			"leadline.db", "other.db").Replace(base),
			[]string{"http.listen", "sip.listen", "sip.rtp_ports", "store"}},
		{"webhook targets and timeout", "webhooks: {allow_private_targets: true, timeout: 20s}\n" + base, []string{"webhooks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := config.RestartNeeded(running, parse(tt.next)); !slices.Equal(got, tt.want) {
				t.Errorf("RestartNeeded = %q, want %q", got, tt.want)
			}
		})
	}
}
