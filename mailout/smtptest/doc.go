// Package smtptest runs a real SMTP server for tests: aiosmtpd (Debian's
// python3-aiosmtpd, run by /usr/bin/python3 with the controller script relay.py) on
// 127.0.0.1, as the relay Leadline's mail leaves through and the mailbox it lands in.
// It can offer STARTTLS or TLS from the first byte with a test certificate, require AUTH
// (PLAIN and LOGIN, or LOGIN only), and refuse the first messages with a chosen reply;
// each message it takes is kept with its envelope, whether the session was encrypted and
// who authenticated. A test skips when aiosmtpd is not installed.
//
// It owns nothing of Leadline's behaviour and imports no Leadline package; only tests
// import it.
package smtptest
