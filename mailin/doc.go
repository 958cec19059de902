// Package mailin takes leads in by e-mail: Leadline's own SMTP receiver (smtp.go) and
// the IMAP reader for dealers whose mail cannot be pointed at Leadline (imap.go). Both
// hand a message to deliver (deliver.go), which checks who sent it (the dealer's
// allowed senders, optionally DKIM and SPF), finds its leads with leadmail and submits
// them to the dialer, or keeps the message as a rejection with its reason: a message is
// only ever acknowledged (SMTP 250, an IMAP flag) once what it became is committed.
//
// It owns the SMTP and IMAP protocol handling and the per-sender and per-dealer rate
// limits. It declares the port it needs of the dialer (Intake); it imports dialer,
// leadmail and adf's consumers only, never store, api, sip or config (cmd copies the
// configuration into Config and Mailbox).
package mailin
