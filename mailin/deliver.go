package mailin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadmail"
)

// Intake is what mail intake needs of the dialer. *dialer.Service implements it.
type Intake interface {
	// Submit validates and stores a lead and starts its flow (dialer.Service.Submit).
	Submit(ctx context.Context, dealer string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error)
	// Reject keeps a message that held no callable lead with its reason; an error means
	// nothing was kept.
	Reject(ctx context.Context, r dialer.Rejection) (dialer.Rejection, error)
	// Refused counts a message refused at the door.
	Refused(dealer string, ch dialer.Channel)
}

var _ Intake = (*dialer.Service)(nil)

// Mailbox is one dealer's e-mail intake: its address, who may send to it, how to read
// mails without ADF, what a sender must prove, and the mailbox read over IMAP.
type Mailbox struct {
	Dealer  string
	Address string   // lower case; "" when the dealer only reads a mailbox (IMAP)
	Senders []string // patterns, as leadmail.SenderMatches takes them
	Rules   []leadmail.Rule
	// RequireDKIM takes a mail only with a valid DKIM signature by its From domain (or
	// a parent of it); RequireSPF only from a host the envelope sender's domain allows.
	RequireDKIM, RequireSPF bool
	// IMAP, when enabled, is a mailbox of the dealer's that the IMAP readers read.
	IMAP IMAP
}

// envelope is what the transport knows of a message besides its bytes.
type envelope struct {
	channel  dialer.Channel
	from     string    // SMTP MAIL FROM, lower case; "" for IMAP and bounces
	received time.Time // end of DATA, or arrival in the mailbox
	proof    proof     // what the sender can prove (DKIM; SPF over SMTP only)
	// limit takes one message of the dealer's rate, once its sender is admitted; false:
	// over the limit. nil: no limit.
	limit func(dealer string) bool
}

// proof checks a message's sender, as a dealer may require; nil methods pass.
type proof interface {
	dkim(raw []byte, fromDomain string) error
	spf(ctx context.Context, envelopeFrom string) error
}

// deliveryError is how a message that was not taken ends: the SMTP reply (a 4xx makes
// the sender try again; IMAP leaves the mail for the next look) and whether it was
// refused at the door (counted as refused).
type deliveryError struct {
	code     int
	enhanced [3]int
	msg      string
	refused  bool
}

func (e *deliveryError) Error() string { return fmt.Sprintf("%d %s", e.code, e.msg) }

// temporary reports whether the sender should try again later.
func (e *deliveryError) temporary() bool { return e.code/100 == 4 }

func tempFailure(msg string) *deliveryError {
	return &deliveryError{code: 451, enhanced: [3]int{4, 3, 0}, msg: msg}
}

func refusal(code int, enhanced [3]int, msg string) *deliveryError {
	return &deliveryError{code: code, enhanced: enhanced, msg: msg, refused: true}
}

// deliver takes one message for mailbox mb: it checks the sender, finds the leads and
// submits each, or keeps the message as a rejection. It returns nil once everything it
// did is committed (the message may be acknowledged), or a *deliveryError.
func deliver(ctx context.Context, in Intake, log *slog.Logger, mb *Mailbox, raw []byte, env envelope) error {
	log = log.With("dealer", mb.Dealer, "channel", string(env.channel))
	hdr, from, err := admit(ctx, in, log, mb, raw, env)
	if err != nil {
		return err
	}
	if env.limit != nil && !env.limit(mb.Dealer) {
		in.Refused(mb.Dealer, env.channel)
		log.Warn("too many mails for the dealer; the sender is asked to try later", "from", from)
		return &deliveryError{code: 451, enhanced: [3]int{4, 7, 1}, msg: "too many messages for this dealer; try again later", refused: true}
	}

	res, err := leadmail.Extract(raw, mb.Rules)
	var nl *leadmail.NoLeadError
	switch {
	case errors.As(err, &nl):
		return reject(ctx, in, log, mb, raw, env, nl.Message, from, hdr.Get("Subject"), nl.Reason, nil)
	case err != nil:
		return reject(ctx, in, log, mb, raw, env, leadmail.Message{}, from, hdr.Get("Subject"), err.Error(), nil)
	}
	msg := res.Message
	var problems []string
	for i, lead := range res.Leads {
		lead.Channel, lead.Sender, lead.MessageID = env.channel, firstOf(msg.From, from), msg.MessageID
		lead.IdempotencyKey = messageKey(msg.MessageID, raw, i, len(res.Leads))
		lead.Original = dialer.NewOriginal("message/rfc822", raw)
		lead.ReceivedAt = env.received
		l, out, err := in.Submit(ctx, mb.Dealer, lead)
		var (
			verr *dialer.ValidationError
			lerr *dialer.NumberLimitError
		)
		switch {
		case err == nil:
			log.InfoContext(ctx, "lead taken from a mail", "lead_id", l.ID, "outcome", out.String(), "kind", res.Kind)
		case errors.As(err, &verr), errors.As(err, &lerr):
			problems = append(problems, fmt.Sprintf("lead %d of %d: %v", i+1, len(res.Leads), err))
		default:
			log.ErrorContext(ctx, "lead from a mail not stored; the sender is asked to try again", "error", err)
			return tempFailure("the lead could not be stored; try again later")
		}
	}
	if len(problems) > 0 {
		return reject(ctx, in, log, mb, raw, env, msg, from, msg.Subject, strings.Join(problems, "; "), nil)
	}
	return nil
}

// admit checks that a message may be taken for mb: its header can be read, its sender
// is one the dealer allows, and it proves what the dealer requires (env.proof). It
// returns the header and the From address (lower case), or a *deliveryError; a refusal
// is counted.
//
// Without requirements either the header From or the envelope sender may be the
// allowed one. A requirement binds the check to the address it proves: with
// require_dkim the From address must be allowed and signed by its domain, with
// require_spf the envelope sender must be allowed and its domain must allow the
// sending host; otherwise a forger would pass by naming an allowed address in the
// identity that is not checked.
func admit(ctx context.Context, in Intake, log *slog.Logger, mb *Mailbox, raw []byte, env envelope) (mail.Header, string, error) {
	hdr, from, err := headerFrom(raw)
	if err != nil {
		in.Refused(mb.Dealer, env.channel)
		return nil, "", refusal(554, [3]int{5, 6, 0}, "the message cannot be read: "+err.Error())
	}
	fromOK, envOK := allowed(mb.Senders, from), allowed(mb.Senders, env.from)
	refuse := func(why string) (mail.Header, string, error) {
		in.Refused(mb.Dealer, env.channel)
		log.Warn("mail from a sender the dealer does not allow; refused", "from", from, "envelope_from", env.from, "why", why)
		return nil, "", refusal(550, [3]int{5, 7, 1}, "this sender may not send leads to this address")
	}
	spf := mb.RequireSPF && env.channel == dialer.ChannelEmail // a mailbox keeps no SMTP client to check
	switch {
	case !fromOK && !envOK:
		return refuse("neither the From address nor the envelope sender is among the dealer's senders")
	case env.proof != nil && mb.RequireDKIM && !fromOK:
		return refuse("require_dkim: the From address must be among the dealer's senders")
	case env.proof != nil && spf && !envOK:
		return refuse("require_spf: the envelope sender must be among the dealer's senders")
	}
	if env.proof != nil {
		if mb.RequireDKIM {
			if err := env.proof.dkim(raw, domainOf(from)); err != nil {
				in.Refused(mb.Dealer, env.channel)
				log.Warn("mail without a valid DKIM signature of its From domain; refused", "from", from, "error", err)
				return nil, "", refusal(550, [3]int{5, 7, 20}, "no valid DKIM signature of the From domain")
			}
		}
		if spf {
			if err := env.proof.spf(ctx, env.from); err != nil {
				var de *deliveryError
				if errors.As(err, &de) {
					return nil, "", de // DNS trouble: try again later
				}
				in.Refused(mb.Dealer, env.channel)
				log.Warn("mail from a host its envelope sender's domain does not allow (SPF); refused", "envelope_from", env.from, "error", err)
				return nil, "", refusal(550, [3]int{5, 7, 23}, "SPF: "+err.Error())
			}
		}
	}
	return hdr, from, nil
}

// reject keeps a message that held no callable lead with orig (nil: raw as it is); a
// store error asks the sender to try again.
func reject(ctx context.Context, in Intake, log *slog.Logger, mb *Mailbox, raw []byte, env envelope, msg leadmail.Message, from, subject, reason string, orig *dialer.Original) error {
	if orig == nil {
		orig = dialer.NewOriginal("message/rfc822", raw)
	}
	r, err := in.Reject(ctx, dialer.Rejection{
		Dealer: mb.Dealer, Channel: env.channel, ReceivedAt: env.received,
		Sender: firstOf(msg.From, from), MessageID: messageIDOr(msg.MessageID, raw), Subject: firstOf(msg.Subject, subject),
		Reason: reason, Original: orig,
	})
	if err != nil {
		log.ErrorContext(ctx, "mail without a lead not kept; the sender is asked to try again", "error", err)
		return tempFailure("the message could not be stored; try again later")
	}
	log.InfoContext(ctx, "mail without a callable lead kept", "rejection_id", r.ID, "reason", reason)
	return nil
}

// headerFrom reads the message's header and its From address (lower case).
func headerFrom(raw []byte) (mail.Header, string, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, "", fmt.Errorf("header: %w", err)
	}
	list, err := m.Header.AddressList("From")
	if err != nil || len(list) == 0 {
		return m.Header, "", nil // judged by the envelope sender alone
	}
	return m.Header, strings.ToLower(list[0].Address), nil
}

// allowed reports whether address matches one of the sender patterns.
func allowed(patterns []string, address string) bool {
	if address == "" {
		return false
	}
	for _, p := range patterns {
		if leadmail.SenderMatches(p, address) {
			return true
		}
	}
	return false
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// messageKey is the idempotency key of lead i of n in a message: its Message-ID, or the
// hash of the whole message when it has none, so that the same message delivered twice
// is one lead. Long Message-IDs are hashed to fit.
func messageKey(messageID string, raw []byte, i, n int) string {
	key := "msgid:" + messageIDOr(messageID, raw)
	if len(key) > 200 {
		sum := sha256.Sum256([]byte(key))
		key = "msgid-sha256:" + hex.EncodeToString(sum[:])
	}
	if n > 1 {
		key += fmt.Sprintf("#%d", i+1)
	}
	return key
}

// messageIDOr is the Message-ID, or for a message without one "sha256:" and the hash of
// its bytes.
func messageIDOr(messageID string, raw []byte) string {
	if messageID != "" {
		return messageID
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}
