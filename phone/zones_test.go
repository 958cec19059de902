package phone

import "testing"

func TestZones(t *testing.T) {
	tests := []struct {
		number string
		want   []string
	}{
		{"+31612345678", []string{"Europe/Amsterdam"}},
		{"+12125550123", []string{"America/New_York"}},
		{"+999", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, z := range Zones(tt.number) {
			got = append(got, z.String())
		}
		if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
			t.Errorf("Zones(%s) = %v, want %v", tt.number, got, tt.want)
		}
	}
}
