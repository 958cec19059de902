// Package siptest is a simulated telephone on real SIP and RTP (sipgo and pion/rtp over
// loopback): it answers Leadline's INVITEs as a scripted salesperson or customer would,
// presses keys (RFC 4733, SIP INFO or in-band), talks a tone, hangs up, and records what
// it heard. Integration tests, `leadline demo` and `leadline phones` use it.
//
// It imports sip/media only.
package siptest
