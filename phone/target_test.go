package phone_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/leadline/leadline/phone"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name, in string
		want     phone.Target
	}{
		{"number", "+31612345678", phone.Target{Kind: phone.KindNumber, Number: "+31612345678"}},
		{"national number", "06-12345678", phone.Target{Kind: phone.KindNumber, Number: "+31612345678"}},
		{"sip with port", "sip:piet@192.0.2.10:5060", phone.Target{Kind: phone.KindSIP, URI: "sip:piet@192.0.2.10:5060", Scheme: "sip", User: "piet", Host: "192.0.2.10", Port: 5060}},
		{"sip no user", "sip:sip.carrier.example", phone.Target{Kind: phone.KindSIP, URI: "sip:sip.carrier.example", Scheme: "sip", Host: "sip.carrier.example"}},
		{"sips upper case", "SIPS:Piet@PBX.Example.COM", phone.Target{Kind: phone.KindSIP, URI: "sips:Piet@pbx.example.com", Scheme: "sips", User: "Piet", Host: "pbx.example.com"}},
		{"ipv6", "sip:piet@[2001:DB8::1]:5080", phone.Target{Kind: phone.KindSIP, URI: "sip:piet@[2001:db8::1]:5080", Scheme: "sip", User: "piet", Host: "[2001:db8::1]", Port: 5080}},
		{"params", "sip:+31612345678@trunk.example;transport=tcp;lr", phone.Target{Kind: phone.KindSIP, URI: "sip:+31612345678@trunk.example;transport=tcp;lr", Scheme: "sip", User: "+31612345678", Host: "trunk.example", Params: "transport=tcp;lr"}},
		{"escaped user", "sip:piet%40home@pbx.example", phone.Target{Kind: phone.KindSIP, URI: "sip:piet%40home@pbx.example", Scheme: "sip", User: "piet%40home", Host: "pbx.example"}},
		{"trailing dot", "sip:pbx.example.", phone.Target{Kind: phone.KindSIP, URI: "sip:pbx.example.", Scheme: "sip", Host: "pbx.example."}},
		{"registered softphones", " Registered ", phone.Target{Kind: phone.KindRegistered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := phone.ParseTarget(tt.in, "NL")
			if err != nil || got != tt.want {
				t.Fatalf("ParseTarget(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.String() == "" || got.IsSIP() != (tt.want.Kind == phone.KindSIP) {
				t.Fatalf("String/IsSIP wrong for %+v", got)
			}
		})
	}
}

func TestParseTargetErrors(t *testing.T) {
	tests := []struct {
		name, in string
		err      error
		msg      string
	}{
		{"space", "sip:piet @192.0.2.10", phone.ErrInvalidURI, "sip URI contains a space"},
		{"leading space", " sip:piet@192.0.2.10", phone.ErrInvalidURI, "sip URI contains a space"},
		{"crlf", "sip:piet@192.0.2.10\r\nX-Evil: 1", phone.ErrInvalidURI, "sip URI contains a control character"},
		{"angle brackets", "<sip:piet@192.0.2.10>", phone.ErrInvalidURI, "sip URI in angle brackets: write the bare URI"},
		{"angle bracket inside", "sip:piet@192.0.2.10>", phone.ErrInvalidURI, "sip URI contains an angle bracket: write the bare URI"},
		{"double quote", `sip:"piet"@192.0.2.10`, phone.ErrInvalidURI, "sip URI contains a quote"},
		{"single quote", `sip:pi'et@192.0.2.10`, phone.ErrInvalidURI, "sip URI contains a quote"},
		{"headers", "sip:piet@192.0.2.10?subject=x", phone.ErrInvalidURI, "sip URI headers (?…) are not allowed"},
		{"non ascii", "sip:piët@192.0.2.10", phone.ErrInvalidURI, "sip URI contains a non-ASCII character"},
		{"comma", "sip:a@b,sip:c@d", phone.ErrInvalidURI, `sip URI contains ","`},
		{"no host", "sip:", phone.ErrInvalidURI, "sip URI has no host"},
		{"no host after user", "sip:piet@", phone.ErrInvalidURI, "sip URI has no host"},
		{"empty user", "sip:@host.example", phone.ErrInvalidURI, "sip URI has an empty user before @"},
		{"two ats", "sip:a@b@host.example", phone.ErrInvalidURI, "sip URI has more than one @"},
		{"password", "sip:piet:secret@host.example", phone.ErrInvalidURI, "passwords in sip URIs are not allowed"},
		{"bad escape", "sip:pi%4@host.example", phone.ErrInvalidURI, "sip URI user has a bad % escape"},
		{"escaped crlf", "sip:pi%0d%0a@host.example", phone.ErrInvalidURI, "sip URI user has an escaped space or control character"},
		{"user semicolon", "sip:pi;et@host.example", phone.ErrInvalidURI, `sip URI user contains ";"`},
		{"bad host", "sip:piet@host_name.example", phone.ErrInvalidURI, `sip URI has a bad host "host_name.example"`},
		{"hyphen label", "sip:piet@-host.example", phone.ErrInvalidURI, `sip URI has a bad host "-host.example"`},
		{"bad ipv4", "sip:piet@192.0.2.999", phone.ErrInvalidURI, `sip URI has a bad host "192.0.2.999"`},
		{"empty label", "sip:piet@host..example", phone.ErrInvalidURI, `sip URI has a bad host "host..example"`},
		{"port zero", "sip:piet@192.0.2.10:0", phone.ErrInvalidURI, `sip URI has a bad port "0": use 1-65535`},
		{"port too big", "sip:piet@192.0.2.10:65536", phone.ErrInvalidURI, `sip URI has a bad port "65536": use 1-65535`},
		{"port letters", "sip:piet@192.0.2.10:50a0", phone.ErrInvalidURI, `sip URI has a bad port "50a0": use 1-65535`},
		{"port sign", "sip:piet@192.0.2.10:+50", phone.ErrInvalidURI, `sip URI has a bad port "+50": use 1-65535`},
		{"empty port", "sip:piet@192.0.2.10:", phone.ErrInvalidURI, "sip URI has an empty port"},
		{"two colons", "sip:piet@host:50:60", phone.ErrInvalidURI, `sip URI has a bad port "50:60": use 1-65535`},
		{"ipv6 unbracketed", "sip:piet@2001:db8::1", phone.ErrInvalidURI, "sip URI has an IPv6 address without brackets: write [address]"},
		{"ipv6 unclosed", "sip:piet@[2001:db8::1", phone.ErrInvalidURI, "sip URI has an unclosed [ in its host"},
		{"ipv6 bad", "sip:piet@[2001:db8::g]", phone.ErrInvalidURI, `sip URI has a bad IPv6 address "[2001:db8::g]"`},
		{"ipv6 zone", "sip:piet@[fe80::1%eth0]", phone.ErrInvalidURI, `sip URI has a bad IPv6 address "[fe80::1%eth0]"`},
		{"ipv4 in brackets", "sip:piet@[192.0.2.1]", phone.ErrInvalidURI, `sip URI has a bad IPv6 address "[192.0.2.1]"`},
		{"after ipv6", "sip:piet@[::1]x", phone.ErrInvalidURI, "sip URI has text after its IPv6 address"},
		{"empty param", "sip:piet@host.example;;lr", phone.ErrInvalidURI, "sip URI has an empty parameter"},
		{"bad param", "sip:piet@host.example;transport=", phone.ErrInvalidURI, `sip URI has a bad parameter "transport="`},
		{"too long", "sip:" + strings.Repeat("a", 600) + "@h.example", phone.ErrInvalidURI, "sip URI is too long"},
		{"bare address", "piet@192.0.2.10", phone.ErrInvalidURI, "looks like a SIP address: write it as sip:piet@192.0.2.10"},
		{"other scheme", "tel:+31612345678", phone.ErrInvalidURI, "only sip: and sips: URIs are supported"},
		{"bad number", "+31 6 1234 567", phone.ErrInvalid, "not a valid phone number for NL"},
		{"premium", "0900 1234567", phone.ErrNotAllowed, "premium-rate numbers are not called"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := phone.ParseTarget(tt.in, "NL")
			if !errors.Is(err, tt.err) || err.Error() != tt.msg || got != (phone.Target{}) {
				t.Fatalf("ParseTarget(%q) = %+v, %v; want error %q wrapping %v", tt.in, got, err, tt.msg, tt.err)
			}
		})
	}
}

func TestValidHost(t *testing.T) {
	for in, want := range map[string]bool{
		"pbx.example": true, "localhost": true, "192.0.2.1": true, "a-b.c": true, "x1.example.": true,
		"": false, "::1": false, "host_x": false, "1.2.3.999": false, "a..b": false, "-a": false,
		strings.Repeat("a", 64) + ".example": false, "a b": false,
	} {
		if got := phone.ValidHost(in); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"sip:piet@192.0.2.10:5060", "sips:a@[::1]:5061;transport=tls", "sip:h", "+31612345678", "06-12345678", "sip:a%20b@h", "sip:a@b@c", "sip:[", "piet@x"} {
		f.Add(s, "NL")
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		got, err := phone.ParseTarget(s, region)
		if err != nil {
			if got != (phone.Target{}) {
				t.Fatalf("ParseTarget(%q) returned %+v with error %v", s, got, err)
			}
			return
		}
		out := got.String()
		if strings.ContainsAny(out, " \t\r\n<>\"'") {
			t.Fatalf("ParseTarget(%q) = %q: unsafe for a SIP header", s, out)
		}
		again, err := phone.ParseTarget(out, "")
		if err != nil || again != got {
			t.Fatalf("ParseTarget(%q) = %+v, %v; does not round-trip from %q (%+v)", out, again, err, s, got)
		}
	})
}
