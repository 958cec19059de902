package phone_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/leadline/leadline/phone"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, raw, region string
		want              string
		err               error
		msg               string
	}{
		{"national with dash", "06-12345678", "NL", "+31612345678", nil, ""},
		{"lower-case region", "06 12 34 56 78", "nl", "+31612345678", nil, ""},
		{"international with spaces", "+31 6 1234 5678", "", "+31612345678", nil, ""},
		{"international ignores region", "+31 6 1234 5678", "DE", "+31612345678", nil, ""},
		{"00 prefix with region", "0031 6 12345678", "NL", "+31612345678", nil, ""},
		{"00 prefix without region", "0031612345678", "", "+31612345678", nil, ""},
		{"parentheses and dots", "(020) 123.4567", "NL", "+31201234567", nil, ""},
		{"slash", "030/12345678", "DE", "+493012345678", nil, ""},
		{"surrounding space", "  +31612345678 ", "", "+31612345678", nil, ""},
		{"toll free allowed", "0800 1234567", "NL", "+318001234567", nil, ""},
		{"us number", "+1 201 555 0123", "NL", "+12015550123", nil, ""},
		{"empty", "", "NL", "", phone.ErrInvalid, "no phone number given"},
		{"blank", "   ", "NL", "", phone.ErrInvalid, "no phone number given"},
		{"letters", "call me", "NL", "", phone.ErrInvalid, "contains characters that are not part of a phone number"},
		{"extension", "06 12345678 ext 12", "NL", "", phone.ErrInvalid, "extensions are not supported"},
		{"extension x", "06 12345678 x12", "NL", "", phone.ErrInvalid, "extensions are not supported"},
		{"extension hash", "06 12345678#12", "NL", "", phone.ErrInvalid, "extensions are not supported"},
		{"plus inside", "06+12345678", "NL", "", phone.ErrInvalid, "a + may only start the number"},
		{"only punctuation", "--", "NL", "", phone.ErrInvalid, "no digits in the phone number"},
		{"too long input", strings.Repeat("1", 65), "NL", "", phone.ErrInvalid, "too long to be a phone number"},
		{"too short", "0612", "NL", "", phone.ErrInvalid, "too short"},
		{"emergency", "112", "NL", "", phone.ErrInvalid, "too short"},
		{"too long", "061234567890123", "NL", "", phone.ErrInvalid, "too long"},
		{"invalid for region", "+31 6 1234 567", "", "", phone.ErrInvalid, "not a valid phone number for NL"},
		{"unknown country code", "+999 12345", "", "", phone.ErrInvalid, "unknown country code"},
		{"national without region", "0612345678", "", "", phone.ErrNoRegion, "not in international format (+…) and no country to read it in"},
		{"national with unknown region", "0612345678", "XX", "", phone.ErrNoRegion, `not in international format (+…) and "XX" is not a known country`},
		{"premium rate nl", "0900 1234567", "NL", "", phone.ErrNotAllowed, "premium-rate numbers are not called"},
		{"premium rate de", "+49 900 1234567", "", "", phone.ErrNotAllowed, "premium-rate numbers are not called"},
		{"shared cost fr", "+33 8 10 12 34 56", "", "", phone.ErrNotAllowed, "shared-cost numbers are not called"},
		{"personal gb", "+44 7000 000000", "", "", phone.ErrNotAllowed, "personal (forwarding) numbers are not called"},
		{"pager gb", "+44 7640 123456", "", "", phone.ErrNotAllowed, "pager numbers are not called"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := phone.Normalize(tt.raw, tt.region)
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Normalize(%q, %q) = %q, %v; want %q", tt.raw, tt.region, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) || err.Error() != tt.msg || got != "" {
				t.Fatalf("Normalize(%q, %q) = %q, %v; want error %q wrapping %v", tt.raw, tt.region, got, err, tt.msg, tt.err)
			}
		})
	}
}

func TestRegion(t *testing.T) {
	tests := map[string]string{
		"+31612345678":  "NL",
		"+493012345678": "DE",
		"+12015550123":  "US",
		"+80012345678":  "", // international freephone: no single country
		"0612345678":    "", // not E.164
		"":              "",
		"+999":          "",
	}
	for in, want := range tests {
		if got := phone.Region(in); got != want {
			t.Errorf("Region(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKnownRegion(t *testing.T) {
	for in, want := range map[string]bool{"NL": true, "nl": true, "US": true, "XX": false, "": false, "NLD": false, "001": false} {
		if got := phone.KnownRegion(in); got != want {
			t.Errorf("KnownRegion(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"06-12345678", "+31 6 1234 5678", "0031612345678", "0900 1234567", "112", "", "+", "00", "+800 1234 5678", "(020) 123.4567"} {
		f.Add(s, "NL")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, err := phone.Normalize(raw, region)
		if err != nil {
			if got != "" {
				t.Fatalf("Normalize(%q, %q) returned %q with error %v", raw, region, got, err)
			}
			if !errors.Is(err, phone.ErrInvalid) && !errors.Is(err, phone.ErrNoRegion) && !errors.Is(err, phone.ErrNotAllowed) {
				t.Fatalf("Normalize(%q, %q): error %v wraps no sentinel", raw, region, err)
			}
			return
		}
		if !strings.HasPrefix(got, "+") || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("Normalize(%q, %q) = %q, not E.164", raw, region, got)
		}
		again, err := phone.Normalize(got, "")
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, %v; not idempotent from %q", got, again, err, raw)
		}
	})
}
