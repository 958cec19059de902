package config_test

import (
	"strings"
	"testing"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/phone"
)

func TestSoftphones(t *testing.T) {
	yaml := edit(t,
		`{ id: anna,  name: "Anna Smit",     phone: "06-87654321" }`,
		`{ id: anna,  name: "Anna Smit",     phone: registered, sip_password: "${ANNA_SIP}" }`,
		`{ id: boss, phone: "+491701234567" }`,
		`{ id: boss, phone: Registered, sip_user: "devries.boss", sip_password: "boss-pw-0123456789" }`)
	env := map[string]string{"ANNA_SIP": "anna-pw-0123456789"}
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	anna, _ := cfg.Dealers[0].Person("anna")
	if !anna.Registered() || anna.Target.Kind != phone.KindRegistered || anna.SIPUser != "anna" || anna.SIPPassword != "anna-pw-0123456789" {
		t.Errorf("anna = %+v", anna)
	}
	boss, _ := cfg.Dealers[1].Person("boss")
	if !boss.Registered() || boss.SIPUser != "devries.boss" {
		t.Errorf("boss = %+v", boss)
	}
	var b strings.Builder
	if err := cfg.Summary(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "registered (sip user anna)") || strings.Contains(b.String(), "anna-pw") {
		t.Errorf("summary shows no sip user, or the password:\n%s", b.String())
	}
}

func TestSoftphoneErrors(t *testing.T) {
	anna := `{ id: anna,  name: "Anna Smit",     phone: "06-87654321" }`
	boss := `{ id: boss, phone: "+491701234567" }`
	tests := []struct {
		name  string
		pairs []string
		want  []string
	}{
		{"no password", []string{anna, `{ id: anna, phone: registered }`},
			[]string{`dealers[0].people[2].sip_password: required with phone: registered`}},
		{"short password", []string{anna, `{ id: anna, phone: registered, sip_password: "short-pw" }`},
			[]string{`dealers[0].people[2].sip_password: too short: use at least 12 characters`}},
		{"password is the user", []string{anna, `{ id: anna, phone: registered, sip_user: "anna-smit-2024", sip_password: "Anna-Smit-2024" }`},
			[]string{`dealers[0].people[2].sip_password: must not be the user name`}},
		{"bad user", []string{anna, `{ id: anna, phone: registered, sip_user: "anna smit", sip_password: "anna-pw-0123456789" }`},
			[]string{`dealers[0].people[2].sip_user: "anna smit": use at most 64 letters`}},
		{"user taken at another dealer", []string{
			anna, `{ id: anna, phone: registered, sip_password: "anna-pw-0123456789" }`,
			boss, `{ id: boss, phone: registered, sip_user: ANNA, sip_password: "boss-pw-0123456789" }`},
			[]string{`dealers[1].people[0].sip_user: "ANNA" is already the SIP user of jansen/anna: set sip_user to a name of its own`}},
		{"same id at two dealers", []string{
			anna, `{ id: anna, phone: registered, sip_password: "anna-pw-0123456789" }`,
			boss, `{ id: anna, phone: registered, sip_password: "boss-pw-0123456789" }`, "flow: [boss]", "flow: [anna]"},
			[]string{`dealers[1].people[0].sip_user: "anna" is already the SIP user of jansen/anna`}},
		{"keys without registered", []string{anna, `{ id: anna, phone: "06-87654321", sip_user: anna, sip_password: "anna-pw-0123456789" }`},
			[]string{`dealers[0].people[2].sip_user: only used with phone: registered`, `dealers[0].people[2].sip_password: only used with phone: registered`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(edit(t, tt.pairs...)), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, secret := range []string{"short-pw", "Anna-Smit-2024", "anna-pw-0123456789", "boss-pw-0123456789"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the password %q:\n%v", secret, err)
				}
			}
		})
	}
}
