// Package dialertest has in-memory fakes of the dialer's ports (a lead store, a caller
// with scripted phones, a speaker) for unit tests of the flow logic in virtual time
// (testing/synctest). Integration tests use the real sip and store packages instead.
package dialertest
