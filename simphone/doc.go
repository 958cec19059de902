// Package simphone is a simulated telephone on real SIP and RTP (sipgo and pion/rtp over
// loopback): it answers Leadline's INVITEs as a scripted salesperson or customer would,
// presses keys (RFC 4733, SIP INFO or in-band), talks a tone, hangs up, and records what
// it heard. A Cast is a set of such phones as YAML describes them (deploy/phones.yaml;
// DefaultCast is the built-in one). Integration tests, `leadline demo` and `leadline
// phones` use it.
//
// It imports media only of Leadline's packages; cmd wires it, nothing else imports it
// but tests.
package simphone
