package config

import (
	"strings"

	"github.com/leadline/leadline/phone"
)

// Softphone is how a person with `phone: registered` signs in: their softphone apps
// REGISTER to Leadline's SIP port with SIPUser as the user name (the user part of the
// account's address, sip:SIPUser@<leadline host>) and SIPPassword (digest
// authentication, RFC 3261 section 22). docs/softphones.md shows the app settings.
type Softphone struct {
	// SIPUser is the account's user name; empty means the person's id. It is unique over
	// all dealers, ignoring case (Validate fills it in).
	SIPUser string
	// SIPPassword is the account's password: required with phone: registered, at least
	// MinSIPPassword characters. Never printed.
	SIPPassword string
}

// MinSIPPassword is the shortest sip_password accepted. Digest authentication sends a
// hash of the password that anyone who sees one REGISTER can attack offline, so it must
// be long enough not to be guessed.
const MinSIPPassword = 12

// Registered reports whether the person's phones register to Leadline.
func (p *Person) Registered() bool { return p.Target.IsRegistered() }

// phoneText is the person's phone as check shows it: a registered person's SIP user
// name, never the password.
func (p *Person) phoneText() string {
	text := or(p.Target.String(), p.Phone)
	if p.Registered() {
		text = phone.Registered + " (sip user " + p.SIPUser + ")"
	}
	if p.SRTP != "" && p.SRTP != SRTPOff {
		text += ", srtp " + p.SRTP
	}
	return text
}

func (d *decoder) softphoneFields(p *Person) map[string]field {
	return map[string]field{
		"sip_user":     d.str(&p.SIPUser),
		"sip_password": d.str(&p.SIPPassword),
	}
}

// sipOwner is who holds a SIP user name, for the duplicate message.
type sipOwner struct{ dealer, person string }

// validateSoftphones checks the people whose phones register: a password long enough,
// and a SIP user name that is a plain token and unique over every dealer. The keys are
// refused on anyone else. Every person's srtp is checked here too (srtp.go).
func (c *Config) validateSoftphones(v *validator) {
	users := map[string]sipOwner{}
	for i := range c.Dealers {
		d := &c.Dealers[i]
		for j := range d.People {
			p := &d.People[j]
			pp := index(index("dealers", i)+".people", j)
			p.validateSRTP(v, pp)
			if !p.Registered() {
				if p.SIPUser != "" {
					v.add(pp+".sip_user", "only used with phone: %s", phone.Registered)
				}
				if p.SIPPassword != "" {
					v.add(pp+".sip_password", "only used with phone: %s", phone.Registered)
				}
				continue
			}
			switch n := len([]rune(p.SIPPassword)); {
			case p.SIPPassword == "":
				v.add(pp+".sip_password", "required with phone: %s", phone.Registered)
			case n < MinSIPPassword:
				v.add(pp+".sip_password", "too short: use at least %d characters", MinSIPPassword)
			case strings.EqualFold(p.SIPPassword, or(p.SIPUser, p.ID)):
				v.add(pp+".sip_password", "must not be the user name")
			}
			p.SIPUser = or(p.SIPUser, p.ID)
			if !validID(p.SIPUser, 64, "") {
				v.add(pp+".sip_user", "%q: use at most 64 letters, digits, '-', '_' or '.'", p.SIPUser)
				continue
			}
			key := strings.ToLower(p.SIPUser)
			if o, dup := users[key]; dup {
				v.add(pp+".sip_user", "%q is already the SIP user of %s/%s: set sip_user to a name of its own", p.SIPUser, o.dealer, o.person)
				continue
			}
			users[key] = sipOwner{d.ID, p.ID}
		}
	}
}
