package config_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestKeyDigest(t *testing.T) {
	plain := "jansen-key-0123456789"
	want := sha256.Sum256([]byte(plain))
	for _, k := range []string{plain, sha(plain), strings.ToUpper(sha(plain)[:7]) + sha(plain)[7:]} {
		if strings.HasPrefix(k, "SHA256:") {
			continue // the label is lower case; only the hex digits may be either
		}
		got, _, err := config.KeyDigest(k)
		if err != nil || got != want {
			t.Errorf("KeyDigest(%q) = %x, %v; want %x", k, got, err, want)
		}
	}
	upperHex := "sha256:" + strings.ToUpper(sha(plain)[7:])
	if got, hashed, err := config.KeyDigest(upperHex); err != nil || !hashed || got != want {
		t.Errorf("upper-case hex: %x %v %v", got, hashed, err)
	}
	for _, bad := range []string{"sha256:", "sha256:abc", sha(plain) + "00", "sha256:" + strings.Repeat("g", 64), "short", "has space 0123456789"} {
		_, _, err := config.KeyDigest(bad)
		if err == nil {
			t.Errorf("KeyDigest(%q) accepted", bad)
			continue
		}
		if len(bad) > 8 && strings.Contains(err.Error(), bad[7:]) {
			t.Errorf("error %q repeats the key", err)
		}
	}
}

func TestSecurityDefaults(t *testing.T) {
	c, err := config.Parse([]byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxLeadsPerNumberPerDay != 3 || c.Forms.PerIP != (config.Rate{Count: 20, Per: time.Hour}) ||
		c.Forms.PerPhone != (config.Rate{Count: 3, Per: time.Hour}) || len(c.TrustedProxyPrefixes) != 0 {
		t.Errorf("defaults: %d %+v %+v %v", c.MaxLeadsPerNumberPerDay, c.Forms.PerIP, c.Forms.PerPhone, c.TrustedProxyPrefixes)
	}
	d := c.Dealers[0]
	if !slices.Equal(d.Countries, []string{"NL"}) || len(d.FormKeys) != 0 || d.RequireSignature ||
		len(d.APIKeyDigests) != 1 || d.APIKeyDigests[0] != sha256.Sum256([]byte("jansen-key-0123456789")) {
		t.Errorf("dealer defaults: %+v", d.DealerSecurity)
	}
	if !slices.Equal(c.Dealers[1].Countries, []string{"DE"}) {
		t.Errorf("devries countries %v", c.Dealers[1].Countries)
	}
}

const securityYAML = `
max_leads_per_number_per_day: 5
forms:
  rate_limit_per_ip: "10/30m"
  rate_limit_per_phone: "2/24h"
http:
  listen: ":8080"
  trusted_proxies: ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
dealers:
  - id: jansen
    api_keys: ["jansen-key-0123456789", "sha256:` + "%s" + `"]
    form_keys: ["jansen-form-0123456789"]
    allowed_origins: ["HTTPS://WWW.Autohuis-Jansen.NL:443/", "http://localhost:8000"]
    webhook_secrets: ["${SECRET}"]
    require_signature: true
    countries: [nl, BE]
    caller_id: "+31201234567"
    people: [{id: owner, phone: "06-11111111"}]
    flow: [owner]
`

func TestSecuritySettings(t *testing.T) {
	secret := "whsec-0123456789abcdef0123456789abcdef"
	yaml := strings.Replace(securityYAML, "%s", sha("rotated-key-0123456789")[7:], 1)
	c, err := config.Parse([]byte(yaml), func(k string) string { return map[string]string{"SECRET": secret}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxLeadsPerNumberPerDay != 5 || c.Forms.PerIP != (config.Rate{Count: 10, Per: 30 * time.Minute}) ||
		c.Forms.PerPhone != (config.Rate{Count: 2, Per: 24 * time.Hour}) {
		t.Errorf("limits %d %+v %+v", c.MaxLeadsPerNumberPerDay, c.Forms.PerIP, c.Forms.PerPhone)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if !slices.Equal(c.TrustedProxyPrefixes, wantProxies) {
		t.Errorf("trusted proxies %v", c.TrustedProxyPrefixes)
	}
	d := c.Dealers[0]
	if !slices.Equal(d.AllowedOrigins, []string{"https://www.autohuis-jansen.nl", "http://localhost:8000"}) {
		t.Errorf("origins %q", d.AllowedOrigins)
	}
	if !slices.Equal(d.Countries, []string{"NL", "BE"}) || !d.RequireSignature || !slices.Equal(d.WebhookSecrets, []string{secret}) {
		t.Errorf("dealer %+v", d.DealerSecurity)
	}
	if len(d.APIKeyDigests) != 2 || d.APIKeyDigests[1] != sha256.Sum256([]byte("rotated-key-0123456789")) ||
		len(d.FormKeyDigests) != 1 || d.FormKeyDigests[0] != sha256.Sum256([]byte("jansen-form-0123456789")) {
		t.Errorf("digests %x %x", d.APIKeyDigests, d.FormKeyDigests)
	}

	var b bytes.Buffer
	if err := c.Summary(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"limits           5 leads per customer number a day; forms 10/30m per IP address, 2/24h per phone number",
		"trusted proxies  10.0.0.0/8, 192.0.2.7, 2001:db8::/32",
		"form keys   1, from https://www.autohuis-jansen.nl, http://localhost:8000",
		"signatures  required, 1 webhook secret(s)",
		"countries   NL, BE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, s := range []string{secret, "jansen-key-0123456789", "jansen-form-0123456789", sha("rotated-key-0123456789")[7:]} {
		if strings.Contains(out, s) {
			t.Errorf("summary shows a secret %q", s)
		}
	}
}

func TestSecurityValidation(t *testing.T) {
	const secret = "whsec-0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		edits []string
		want  []string
	}{
		{"hashed key", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["` + sha("devries-key-0123456789") + `"]`}, nil},
		{"bad hash", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["sha256:0123abc"]`},
			[]string{`dealers[1].api_keys[0]: api key sha256: must be followed by the 64 hex digits of the key's SHA-256 (printf %s KEY | sha256sum)`}},
		{"plain key and its hash", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries-key-0123456789", "` + sha("devries-key-0123456789") + `"]`},
			[]string{`dealers[1].api_keys[1]: duplicate api key (same as api_keys[0])`}},
		{"hash of another dealer's key", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["` + sha("jansen-key-0123456789") + `"]`},
			[]string{`dealers[1].api_keys[0]: api key already used by dealer "jansen"`}},
		{"form key without origins", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries-key-0123456789"]\n    form_keys: ["devries-form-0123456789"]`},
			[]string{`dealers[1].allowed_origins: required with form_keys: list the origins of the dealer's web pages, e.g. https://www.example.nl`}},
		{"form key is an api key", []string{`api_keys: ["devries-key-0123456789"]`,
			`api_keys: ["devries-key-0123456789"]\n    form_keys: ["devries-key-0123456789"]\n    allowed_origins: ["https://devries.example"]`},
			[]string{`dealers[1].form_keys[0]: form key is also one of this dealer's api keys; a key is either one or the other`}},
		{"form key of another dealer", []string{`api_keys: ["devries-key-0123456789"]`,
			`api_keys: ["devries-key-0123456789"]\n    form_keys: ["jansen-key-0123456789"]\n    allowed_origins: ["https://devries.example"]`},
			[]string{`dealers[1].form_keys[0]: form key already used by dealer "jansen"`}},
		{"short form key", []string{`api_keys: ["devries-key-0123456789"]`,
			`api_keys: ["devries-key-0123456789"]\n    form_keys: ["abc"]\n    allowed_origins: ["https://devries.example"]`},
			[]string{`dealers[1].form_keys[0]: form key is too short: use at least 16 characters`}},
		{"bad origins", []string{`api_keys: ["devries-key-0123456789"]`,
			`api_keys: ["devries-key-0123456789"]\n    allowed_origins: ["https://devries.example/contact", "ftp://devries.example", "https://*.devries.example", "devries.example", "https://u:p@devries.example", "https://devries.example", "https://DEVRIES.example:443"]`},
			[]string{
				`dealers[1].allowed_origins[0]: "https://devries.example/contact" is not a web origin (no path, query or fragment); write it as https://www.example.nl`,
				`dealers[1].allowed_origins[1]: "ftp://devries.example" is not a web origin (use http:// or https://); write it as https://www.example.nl`,
				`dealers[1].allowed_origins[2]: "https://*.devries.example" is not a web origin (wildcards are not supported; list each origin); write it as https://www.example.nl`,
				`dealers[1].allowed_origins[3]: "devries.example" is not a web origin (use http:// or https://); write it as https://www.example.nl`,
				`dealers[1].allowed_origins[4]: "https://u:p@devries.example" is not a web origin (no user or password); write it as https://www.example.nl`,
				`dealers[1].allowed_origins[6]: https://devries.example is listed twice`,
			}},
		{"short secret", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries-key-0123456789"]\n    webhook_secrets: ["tooshort-secret"]`},
			[]string{`dealers[1].webhook_secrets[0]: webhook secret is too short: use at least 32 characters (openssl rand -hex 32)`}},
		{"secret is the api key", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries-key-0123456789-0123456789-abc"]\n    webhook_secrets: ["devries-key-0123456789-0123456789-abc"]`},
			[]string{`dealers[1].webhook_secrets[0]: webhook secret is one of the dealer's api keys; use a separate secret`}},
		{"unset secret", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries-key-0123456789"]\n    webhook_secrets: ["${DEVRIES_SECRET}"]`},
			[]string{`dealers[1].webhook_secrets[0]: empty webhook secret (DEVRIES_SECRET not set)`}},
		{"signature without secrets", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries-key-0123456789"]\n    require_signature: yes`},
			[]string{`dealers[1].require_signature: needs webhook_secrets to check signatures with`}},
		{"require_signature not a bool", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries-key-0123456789"]\n    require_signature: sometimes`},
			[]string{`dealers[1].require_signature: "sometimes" is not true or false`}},
		{"countries", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries-key-0123456789"]\n    countries: [de, XX, at]`},
			[]string{`dealers[1].countries[1]: unknown country "XX" (use an ISO code such as NL)`}},
		{"cap zero", []string{"sip:\n", "max_leads_per_number_per_day: 0\nsip:\n"},
			[]string{`max_leads_per_number_per_day: must be at least 1`}},
		{"cap not a number", []string{"sip:\n", "max_leads_per_number_per_day: three\nsip:\n"},
			[]string{`max_leads_per_number_per_day: "three" is not a whole number`}},
		{"bad rates", []string{"sip:\n", "forms: {rate_limit_per_ip: \"ten/h\", rate_limit_per_phone: \"3/0s\"}\nsip:\n"},
			[]string{
				`forms.rate_limit_per_ip: "ten/h" is not a rate like "20/1h" (a count of at least 1, a slash, a duration)`,
				`forms.rate_limit_per_phone: "3/0s": the duration after / must be at least 1s, e.g. "20/1h"`,
			}},
		{"misspelt forms key", []string{"sip:\n", "forms: {rate_limit_per_ipp: 5/1h}\nsip:\n"},
			[]string{`forms.rate_limit_per_ipp: unknown key (did you mean "rate_limit_per_ip"?)`}},
		{"bad trusted proxy", []string{"sip:\n", "http: {trusted_proxies: [10.0.0.0/8, nope]}\nsip:\n"},
			[]string{`http.trusted_proxies[1]: "nope" is not an IP address or CIDR prefix (e.g. 10.0.0.0/8)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edits := make([]string, len(tt.edits))
			for i, e := range tt.edits {
				edits[i] = strings.ReplaceAll(e, `\n`, "\n") // a new key on the dealer
			}
			_, err := config.Parse([]byte(edit(t, edits...)), nil)
			var got []string
			if ve, ok := err.(*config.ValidationError); ok {
				for _, p := range ve.Problems {
					got = append(got, p.String())
				}
			} else if err != nil {
				t.Fatalf("err %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.want)
			}
			for _, s := range []string{secret, "tooshort-secret", "devries-form-0123456789", "0123abc", "devries-key-0123456789-0123456789-abc"} {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("a secret is in the error: %v", err)
				}
			}
		})
	}
}

// TestConfigErrorsHideSecrets: every way a key or secret can be wrong is reported
// without the value.
func TestConfigErrorsHideSecrets(t *testing.T) {
	secrets := []string{"shortkey", "key with a space in it", "sha256:notahash", "tiny-secret", "secret with spaces 0123456789abcdef",
		"dup-key-0123456789abc", "form-dup-0123456789"}
	yaml := `
dealers:
  - id: a
    api_keys: ["shortkey", "key with a space in it", "sha256:notahash", "dup-key-0123456789abc", "dup-key-0123456789abc"]
    form_keys: ["form-dup-0123456789", "form-dup-0123456789", "dup-key-0123456789abc"]
    webhook_secrets: ["tiny-secret", "secret with spaces 0123456789abcdef"]
    caller_id: "+31201234567"
    people: [{id: owner, phone: "06-11111111"}]
    flow: [owner]
  - id: b
    api_keys: ["dup-key-0123456789abc"]
    form_keys: ["form-dup-0123456789"]
    caller_id: "+31201234567"
    people: [{id: owner, phone: "06-11111111"}]
    flow: [owner]
`
	_, err := config.Parse([]byte(yaml), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	if n := len(err.(*config.ValidationError).Problems); n < 9 {
		t.Errorf("only %d problems:\n%v", n, err)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error contains %q:\n%v", s, err)
		}
	}
}
