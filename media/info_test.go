package media

import "testing"

func TestParseInfoDigit(t *testing.T) {
	const relay = "application/dtmf-relay"
	tests := []struct {
		name string
		ct   string
		body string
		want rune
		ok   bool
	}{
		{"relay CRLF", relay, "Signal=1\r\nDuration=160\r\n", '1', true},
		{"relay LF only", relay, "Signal=5\nDuration=160\n", '5', true},
		{"relay space after =", relay, "Signal= 9\r\nDuration= 160\r\n", '9', true},
		{"relay spaces around", relay, "  signal = 0 \r\n", '0', true},
		{"relay upper key", relay, "SIGNAL=2\r\nDURATION=100", '2', true},
		{"relay duration first", relay, "Duration=250\r\nSignal=7\r\n", '7', true},
		{"relay no trailing newline", relay, "Signal=3", '3', true},
		{"relay star", relay, "Signal=*\r\nDuration=160\r\n", '*', true},
		{"relay hash", relay, "Signal=#\r\nDuration=160\r\n", '#', true},
		{"relay 10 is star", relay, "Signal=10\r\nDuration=160\r\n", '*', true},
		{"relay 11 is hash", relay, "Signal=11\r\n", '#', true},
		{"relay 12 is A", relay, "Signal=12\r\n", 'A', true},
		{"relay lower d", relay, "Signal=d\r\n", 'D', true},
		{"relay 05", relay, "Signal=05\r\n", '5', true},
		{"relay tab", relay, "Signal=\t4\t\r\n", '4', true},
		{"relay content-type case and params", "Application/DTMF-Relay; charset=utf-8", "Signal=6\r\n", '6', true},
		{"relay content-type spaces", "  application/dtmf-relay  ", "Signal=8", '8', true},
		{"relay flash 16", relay, "Signal=16\r\n", 0, false},
		{"relay !", relay, "Signal=!\r\n", 0, false},
		{"relay empty value", relay, "Signal=\r\nDuration=160", 0, false},
		{"relay two chars", relay, "Signal=12a\r\n", 0, false},
		{"relay digits with space", relay, "Signal=1 2\r\n", 0, false},
		{"relay no signal", relay, "Duration=160\r\n", 0, false},
		{"relay colon", relay, "Signal: 1\r\n", 0, false},
		{"relay signalx key", relay, "Signals=1\r\n", 0, false},
		{"relay empty body", relay, "", 0, false},
		{"relay E", relay, "Signal=E", 0, false},
		{"dtmf digit", "application/dtmf", "5", '5', true},
		{"dtmf digit newline", "application/dtmf", "#\r\n", '#', true},
		{"dtmf number", "application/dtmf", "11", '#', true},
		{"dtmf 15", "application/dtmf", "15", 'D', true},
		{"dtmf 99", "application/dtmf", "99", 0, false},
		{"dtmf relay syntax", "application/dtmf", "Signal=1", 0, false},
		{"dtmf empty", "application/dtmf", "", 0, false},
		{"other type", "text/plain", "Signal=1\r\n", 0, false},
		{"sdp", "application/sdp", "v=0\r\n", 0, false},
		{"no content type", "", "1", 0, false},
		{"type prefix", "application/dtmf-relayx", "Signal=1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseInfoDigit(tt.ct, []byte(tt.body))
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseInfoDigit(%q, %q) = %q, %v; want %q, %v", tt.ct, tt.body, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func BenchmarkParseInfoDigit(b *testing.B) {
	body := []byte("Signal=1\r\nDuration=160\r\n")
	b.ReportAllocs()
	for b.Loop() {
		ParseInfoDigit("application/dtmf-relay", body)
	}
}
