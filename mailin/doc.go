// Package mailin takes leads in by e-mail: Leadline's own SMTP receiver (smtp.go) and
// the IMAP readers for dealers whose mail cannot be pointed at Leadline (imap.go). Both
// hand a message to deliver (deliver.go), which checks who sent it (the dealer's
// allowed senders, optionally DKIM and SPF), finds its leads with leadmail and submits
// them to the dialer, or keeps the message as a rejection with its reason: a message is
// only ever acknowledged (SMTP 250, an IMAP flag) once what it became is committed.
//
// An IMAP reader (Readers, one goroutine per dealer mailbox) owns its connection. It
// reads messages without the keyword $Leadline (DoneKeyword) with BODY.PEEK[], and marks
// one $Leadline and \Seen, or moves it, only after deliver returned nil; a refused
// sender's message is marked $Leadline only. A crash in between makes the next look read
// the message again, and its Message-ID makes the lead a repeat. It waits in IDLE or
// polls, reconnects with backoff, and tells an Observer whether it is connected.
// imaptest runs a throwaway dovecot for the tests.
//
// It owns the SMTP and IMAP protocol handling and the per-sender and per-dealer rate
// limits. It declares the ports it needs of the dialer (Intake) and of the metrics
// (Observer); it imports dialer, leadmail and adf's consumers only, never store, api,
// sip, metrics or config (cmd copies the configuration into Config, ReaderConfig and
// Mailbox).
package mailin
