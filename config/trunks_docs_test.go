package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadline/leadline/config"
)

// TestTrunkDocsConfigs: every YAML block in docs/trunks is a whole configuration that
// loads without problems and without warnings, with its trunks as the page says. The
// files a page names in /etc/leadline/tls (a certificate, its key, a CA) are made for
// the test.
func TestTrunkDocsConfigs(t *testing.T) {
	pages, err := filepath.Glob("../docs/trunks/*.md")
	if err != nil || len(pages) < 3 {
		t.Fatalf("docs/trunks: %v, %d pages", err, len(pages))
	}
	cert, key, ca := tlsFiles(t)
	files := strings.NewReplacer("/etc/leadline/tls/cert.pem", cert, "/etc/leadline/tls/key.pem", key, "/etc/leadline/tls/carrier-ca.pem", ca)
	env := func(name string) string {
		if strings.HasPrefix(name, "LEADLINE_") {
			return ""
		}
		return "a-secret-for-" + strings.ToLower(name)
	}
	for _, page := range pages {
		t.Run(filepath.Base(page), func(t *testing.T) {
			b, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			blocks := 0
			for rest := string(b); ; {
				_, after, ok := strings.Cut(rest, "```yaml\n")
				if !ok {
					break
				}
				block, tail, _ := strings.Cut(after, "```")
				rest = tail
				blocks++
				c, err := config.Parse([]byte(files.Replace(block)), env)
				if err != nil {
					t.Errorf("block %d:\n%v", blocks, err)
					continue
				}
				if w := c.Warnings(); len(w) > 0 {
					t.Errorf("block %d warns: %v", blocks, w)
				}
				if len(c.SIP.TrunkList()) == 0 {
					t.Errorf("block %d has no trunk", blocks)
				}
			}
			if blocks == 0 {
				t.Error("no yaml block")
			}
		})
	}
}
