package config

import "slices"

// RestartNeeded lists the settings (by path) that differ between the running
// configuration and next but take effect only when the process restarts: listeners,
// the store, the trunk, logging and the like. A reload (SIGHUP) applies the dealers,
// their people, flows and keys, and the intake rules; it says which of these others it
// left as they were.
func RestartNeeded(running, next *Config) []string {
	var out []string
	for _, s := range restartOnly {
		if !s.same(running, next) {
			out = append(out, s.path)
		}
	}
	return out
}

// restartOnly are the settings a running process does not pick up on reload.
var restartOnly = []struct {
	path string
	same func(a, b *Config) bool
}{
	{"node_id", func(a, b *Config) bool { return a.NodeID == b.NodeID }},
	{"takeover_after", func(a, b *Config) bool { return a.TakeoverAfter == b.TakeoverAfter }},
	{"log", func(a, b *Config) bool { return a.Log == b.Log }},
	{"http.listen", func(a, b *Config) bool { return a.HTTP == b.HTTP }},
	{"http.trusted_proxies", func(a, b *Config) bool { return slices.Equal(a.TrustedProxies, b.TrustedProxies) }},
	{"forms", func(a, b *Config) bool { return a.Forms.PerIP == b.Forms.PerIP && a.Forms.PerPhone == b.Forms.PerPhone }},
	{"sip.listen", func(a, b *Config) bool { return a.SIP.Listen == b.SIP.Listen }},
	{"sip.external_host", func(a, b *Config) bool { return a.SIP.ExternalHost == b.SIP.ExternalHost }},
	{"sip.rtp_ports", func(a, b *Config) bool {
		return a.SIP.RTPPortMin == b.SIP.RTPPortMin && a.SIP.RTPPortMax == b.SIP.RTPPortMax
	}},
	{"sip.media_timeout", func(a, b *Config) bool { return a.SIP.MediaTimeout == b.SIP.MediaTimeout }},
	{"sip.trunk", func(a, b *Config) bool { return a.SIP.Trunk == b.SIP.Trunk }},
	{"sip.trunks", func(a, b *Config) bool { return sameTrunks(a.SIP.Trunks, b.SIP.Trunks) }},
	{"sip.tls", func(a, b *Config) bool { return a.SIP.TLS == b.SIP.TLS }},
	{"store", func(a, b *Config) bool { return a.Store == b.Store }},
	{"tts", func(a, b *Config) bool { return a.TTS == b.TTS }},
	{"email.listen", func(a, b *Config) bool { return a.Email.Listen == b.Email.Listen }},
	{"email.tls", func(a, b *Config) bool { return a.Email.TLS == b.Email.TLS }},
	{"email.max_size", func(a, b *Config) bool { return a.Email.MaxBytes == b.Email.MaxBytes }},
	{"email.rate_limit_per_sender", func(a, b *Config) bool { return a.Email.PerSender == b.Email.PerSender }},
	{"email.rate_limit_per_dealer", func(a, b *Config) bool { return a.Email.PerDealer == b.Email.PerDealer }},
	{"webhooks", func(a, b *Config) bool { return a.Webhooks == b.Webhooks }},
}
