package phone_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"

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
		{"emergency", "112", "NL", "", phone.ErrNotAllowed, "emergency numbers are not called"},
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

// TestNumberClasses checks each class of number Leadline refuses, and some it calls,
// with real numbers of the countries dealers are in, as customers type them.
func TestNumberClasses(t *testing.T) {
	const (
		premium   = "premium-rate numbers are not called"
		shared    = "shared-cost numbers are not called"
		personal  = "personal (forwarding) numbers are not called"
		pager     = "pager numbers are not called"
		emergency = "emergency numbers are not called"
		short     = "short numbers (service codes such as 1200 or 14020) are not called; give a full phone number"
	)
	tests := []struct {
		region, raw string
		want        string // E.164 when called
		reason      string // the refusal otherwise
	}{
		// The Netherlands.
		{"NL", "06-12345678", "+31612345678", ""},
		{"NL", "020-1234567", "+31201234567", ""},
		{"NL", "0800-0432", "+318000432", ""}, // toll free: called
		{"NL", "088-1234567", "+31881234567", ""},
		{"NL", "0900-1234567", "", premium},
		{"NL", "0900-8844", "", premium},
		{"NL", "0906-1234567", "", premium},
		{"NL", "0909-1234567", "", premium},
		{"NL", "066-2345678", "", pager},
		{"NL", "112", "", emergency},
		{"NL", "1200", "", short},
		{"NL", "14020", "", short}, // municipality: 14 + area code
		{"NL", "0612", "", "too short"},
		{"NL", "06-1234567", "", "not a valid phone number for NL"},
		// Belgium.
		{"BE", "0470 12 34 56", "+32470123456", ""},
		{"BE", "02 555 12 34", "+3225551234", ""},
		{"BE", "0800 12 345", "+3280012345", ""},
		{"BE", "0900 12 345", "", premium},
		{"BE", "0903 12 345", "", premium},
		{"BE", "070 22 33 44", "", premium},
		{"BE", "078 79 12 34", "", shared},
		{"BE", "112", "", emergency},
		{"BE", "1207", "", short},
		{"BE", "116000", "", short},
		// Germany.
		{"DE", "0151 23456789", "+4915123456789", ""},
		{"DE", "030 1234567", "+49301234567", ""},
		{"DE", "0900 1 234567", "", premium},
		{"DE", "0180 1 234567", "", shared},
		{"DE", "0700 12345678", "", personal},
		{"DE", "110", "", emergency},
		{"DE", "116117", "", short},
		// France.
		{"FR", "06 12 34 56 78", "+33612345678", ""},
		{"FR", "01 23 45 67 89", "+33123456789", ""},
		{"FR", "0891 12 34 56", "", premium},
		{"FR", "0899 12 34 56", "", premium},
		{"FR", "0810 12 34 56", "", shared},
		{"FR", "15", "", emergency},
		{"FR", "3949", "", short},
		// The United Kingdom.
		{"GB", "07400 123456", "+447400123456", ""},
		{"GB", "020 7946 0018", "+442079460018", ""},
		{"GB", "0909 879 0000", "", premium},
		{"GB", "0845 464 0000", "", premium},
		{"GB", "070 1234 5678", "", personal},
		{"GB", "07640 123456", "", pager},
		{"GB", "999", "", emergency},
		{"GB", "118118", "", short},
		// International format: read as the country it names, never as a short code.
		{"NL", "+32 900 12 345", "", premium},
		{"NL", "+49 110", "", "not a valid phone number for DE"},
	}
	for _, tt := range tests {
		t.Run(tt.region+" "+tt.raw, func(t *testing.T) {
			got, err := phone.Normalize(tt.raw, tt.region)
			if tt.reason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Normalize(%q, %s) = %q, %v; want %s", tt.raw, tt.region, got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.reason {
				t.Fatalf("Normalize(%q, %s) = %q, %v; want %q", tt.raw, tt.region, got, err, tt.reason)
			}
			wantKind := phone.ErrNotAllowed
			if !strings.Contains(tt.reason, "not called") {
				wantKind = phone.ErrInvalid
			}
			if !errors.Is(err, wantKind) {
				t.Errorf("error %v does not wrap %v", err, wantKind)
			}
		})
	}
}

// TestExampleNumbersRefused asks libphonenumber for its own example of every refused
// kind of number in many countries: each must be refused, in national and in
// international format.
func TestExampleNumbersRefused(t *testing.T) {
	kinds := []phonenumbers.PhoneNumberType{
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.VOICEMAIL,
	}
	tried := 0
	for _, region := range []string{"NL", "BE", "DE", "FR", "GB", "LU", "AT", "CH", "ES", "IT", "DK", "SE", "PL", "US"} {
		for _, k := range kinds {
			n := phonenumbers.GetExampleNumberForType(region, k)
			if n == nil {
				continue
			}
			tried++
			for _, raw := range []string{phonenumbers.Format(n, phonenumbers.NATIONAL), phonenumbers.Format(n, phonenumbers.E164)} {
				if got, err := phone.Normalize(raw, region); !errors.Is(err, phone.ErrNotAllowed) {
					t.Errorf("%s example of type %v, %q: got %q, %v; want refused", region, k, raw, got, err)
				}
			}
		}
	}
	if tried < 30 {
		t.Errorf("only %d example numbers tried", tried)
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
