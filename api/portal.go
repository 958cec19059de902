package api

// Portal webhooks: classifieds portals that deliver leads by HTTP. The Marktplaats
// group's portals (Marktplaats, 2dehands, 2ememain) post each lead event to
// POST /v1/hooks/marktplaats/{dealer}, as documented at
// api.marktplaats.nl/docs/v1/webhooks.html:
//
//	{"id": "…", "eventType": "…", "created": "2026-11-27T10:00:00Z", "eventData": {…}}
//	X-Ecg-Signature: <lowercase hex HMAC-SHA256(secret, body)>
//
// Delivery is at least once, so the event id makes the lead's idempotency key. The
// fields of a lead event's eventData are not public; they are read leniently (a few
// plausible spellings each, see mpFields) and the raw body is kept as the lead's
// original, so nothing is lost if a field is missed. A portal does not retry a 4xx, so
// a signed event that holds no lead that can be called is kept as a rejection and
// answered 200; only a body that is not a JSON object is a 400.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/leadline/leadline/dialer"
)

// HeaderEcgSignature carries a Marktplaats webhook's signature: the lowercase hex
// HMAC-SHA256 of the raw body, keyed with the dealer's portals.marktplaats.secret.
const HeaderEcgSignature = "X-Ecg-Signature"

// Marktplaats names the portal of Marktplaats webhook leads (their sender) and is
// their source unless the event names 2dehands or 2ememain.
const (
	senderMarktplaats = "marktplaats"
	sourceMarktplaats = "Marktplaats"
)

// hookAnswer is the body of a 2xx answer to a portal: what became of its event.
type hookAnswer struct {
	// Result is created, joined (the number had an open lead), repeat (the event was
	// delivered before) or rejected (kept, with Reason, but nobody is called).
	Result string `json:"result"`
	Lead   string `json:"lead,omitempty"` // the lead's id; not for rejected
	Reason string `json:"reason,omitempty"`
}

// hookNotFound answers a webhook URL of a dealer that does not exist or has no secret
// for the portal alike, so that the answer does not tell which dealers exist.
func hookNotFound() error {
	return &requestError{
		status: http.StatusNotFound,
		kind:   "hook-not-found",
		title:  "Webhook not found",
		detail: "No Marktplaats webhook is configured at this URL. Check the dealer id at its end, " +
			"and that the dealer has portals.marktplaats.secret in Leadline's configuration.",
	}
}

func badEcgSignature(detail string) error {
	return &requestError{
		status: http.StatusUnauthorized,
		kind:   "invalid-signature",
		title:  "Invalid signature",
		detail: detail + " Nothing was stored.",
	}
}

// handleMarktplaats is POST /v1/hooks/marktplaats/{dealer}: a Marktplaats, 2dehands or
// 2ememain lead event. 404 for a dealer without the webhook; 415 for a body that is
// declared as anything but JSON; 413 too large; 401 without a valid X-Ecg-Signature;
// 400 for a body that is not a JSON object. Then the event's lead is submitted on
// channel webhook (202 created or joined, 200 repeat) or, when it has none that can be
// called, kept as a rejection (200); 503 when neither could be stored.
func (s *server) handleMarktplaats(w http.ResponseWriter, r *http.Request) {
	d := s.access().dealer(chi.URLParam(r, "dealer"))
	if d == nil || len(d.MarktplaatsSecret) == 0 {
		s.writeError(w, r, hookNotFound())
		return
	}
	if err := jsonContentType(r.Header.Get("Content-Type")); err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := verifyEcgSignature(r.Header, d.MarktplaatsSecret, body); err != nil {
		s.log.WarnContext(r.Context(), "marktplaats webhook refused", "dealer", d.Dealer, "error", err)
		s.writeError(w, r, err)
		return
	}
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.dealer, info.scope = d.Dealer, scopePortal
	}
	ev, err := parseMarktplaats(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, missing := ev.lead()
	in.Original = dialer.NewOriginal(mediaJSON, body)
	if missing == "" {
		lead, out, err := s.leads.Submit(r.Context(), d.Dealer, in)
		switch {
		case err == nil:
			status, result := http.StatusAccepted, "created"
			switch out {
			case dialer.OutcomeRepeat:
				status, result = http.StatusOK, "repeat"
			case dialer.OutcomeJoined:
				result = "joined"
			}
			encode(w, status, hookAnswer{Result: result, Lead: lead.ID})
			return
		case errors.Is(err, dialer.ErrNotFound): // the dialer does not know the dealer (yet)
			s.writeError(w, r, hookNotFound())
			return
		}
		missing = notCallable(err)
		if missing == "" { // the store is down or the node drains: the portal tries again
			s.writeError(w, r, err)
			return
		}
	}
	rj, err := s.leads.Reject(r.Context(), dialer.Rejection{
		Dealer: d.Dealer, Channel: dialer.ChannelWebhook, Sender: in.Sender, MessageID: in.MessageID,
		Subject: ev.subject(in), Reason: missing, Original: in.Original,
	})
	if err != nil {
		if errors.Is(err, dialer.ErrNotFound) {
			err = hookNotFound()
		}
		s.writeError(w, r, err)
		return
	}
	encode(w, http.StatusOK, hookAnswer{Result: "rejected", Reason: rj.Reason})
}

// notCallable says why Submit refused a portal's lead for good (a bad field, the
// number's daily cap), for its rejection; "" for an error worth retrying.
func notCallable(err error) string {
	if verr, ok := errors.AsType[*dialer.ValidationError](err); ok {
		parts := make([]string, len(verr.Fields))
		for i, f := range verr.Fields {
			parts[i] = f.Field + " " + f.Detail
		}
		return "the lead cannot be taken: " + strings.Join(parts, "; ")
	}
	if nerr, ok := errors.AsType[*dialer.NumberLimitError](err); ok {
		return fmt.Sprintf("the buyer's number already had %d leads in the last 24 hours "+
			"(max_leads_per_number_per_day); it is not called again today", nerr.Max)
	}
	return ""
}

// jsonContentType accepts a webhook body declared as JSON (any charset), or not
// declared at all.
func jsonContentType(ct string) error {
	if strings.TrimSpace(ct) == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == mediaJSON || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return &requestError{
		status: http.StatusUnsupportedMediaType,
		kind:   "unsupported-media-type",
		title:  "Unsupported media type",
		detail: fmt.Sprintf("A Marktplaats webhook event is JSON; Content-Type %q is not. Send %s.", ct, mediaJSON),
		header: map[string]string{"Accept-Post": mediaJSON},
	}
}

// verifyEcgSignature checks X-Ecg-Signature, the hex HMAC-SHA256 of body with secret
// (case-insensitive; a "sha256=" prefix is allowed), in constant time.
func verifyEcgSignature(h http.Header, secret, body []byte) error {
	sigs := h.Values(HeaderEcgSignature)
	switch len(sigs) {
	case 0:
		return badEcgSignature("The request has no " + HeaderEcgSignature + " header: the portal signs every delivery " +
			"with the webhook's secret.")
	case 1:
	default:
		return badEcgSignature("Send " + HeaderEcgSignature + " once.")
	}
	hexSig, _ := strings.CutPrefix(strings.ToLower(strings.TrimSpace(sigs[0])), signaturePrefix)
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return badEcgSignature(HeaderEcgSignature + " must be 64 hex digits, the HMAC-SHA256 of the body.")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), got) {
		return badEcgSignature("The signature does not match the body: it must be the hex HMAC-SHA256 of the exact body " +
			"bytes with the secret configured at the portal, which must equal the dealer's portals.marktplaats.secret.")
	}
	return nil
}

// mpEvent is a Marktplaats webhook event, as far as Leadline reads it.
type mpEvent struct {
	id, eventType string
	root          map[string]any // the whole event
	data          map[string]any // eventData; nil when absent or not an object
	bodyHash      string         // hex SHA-256 of the body, for an event without an id
}

// parseMarktplaats reads a webhook body: a JSON object (400 otherwise) with, leniently,
// id, eventType and eventData.
func parseMarktplaats(body []byte) (mpEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil || root == nil {
		return mpEvent{}, badRequest("The body is not a JSON object: a Marktplaats webhook event is " +
			`{"id": "…", "eventType": "…", "created": "…", "eventData": {…}}.`)
	}
	if dec.More() {
		return mpEvent{}, badRequest("There is more after the JSON object; send one event per request.")
	}
	sum := sha256.Sum256(body)
	ev := mpEvent{root: root, bodyHash: hex.EncodeToString(sum[:])}
	ev.id = textAt(root, "id")
	ev.eventType = oneLine(textAt(root, "eventType"), 100)
	ev.data, _ = valueAt(root, "eventData").(map[string]any)
	return ev, nil
}

// Where each lead field may be in eventData, most likely first: the spellings the
// portal is likely to use. Keys are compared ignoring case, "_" and "-".
var (
	mpPhone = []string{"buyerPhone", "buyerPhoneNumber", "buyer.phone", "buyer.phoneNumber", "buyer.telephone",
		"buyer.mobile", "phoneNumber", "phone", "telephone", "mobile", "sender.phone", "sender.phoneNumber",
		"contact.phone", "contact.phoneNumber", "customer.phone", "customer.phoneNumber", "lead.phone", "lead.phoneNumber"}
	mpName = []string{"buyerName", "buyer.name", "buyer.fullName", "buyer.displayName", "name", "fullName",
		"displayName", "sender.name", "contact.name", "customer.name", "lead.name"}
	mpFirstLast = [][2]string{{"buyer.firstName", "buyer.lastName"}, {"firstName", "lastName"},
		{"contact.firstName", "contact.lastName"}}
	mpEmail = []string{"buyerEmail", "buyerEmailAddress", "buyer.email", "buyer.emailAddress", "email",
		"emailAddress", "sender.email", "contact.email", "customer.email", "lead.email"}
	mpMessage = []string{"message", "message.text", "message.body", "message.content", "messageText",
		"buyerMessage", "buyer.message", "text", "body", "question", "comment", "comments", "lead.message", "reply.text"}
	mpTitle = []string{"adTitle", "itemTitle", "listingTitle", "ad.title", "item.title", "listing.title",
		"advertisement.title", "title"}
	mpMake  = []string{"make", "brand", "ad.make", "ad.brand", "item.make", "item.brand", "vehicle.make", "car.make"}
	mpModel = []string{"model", "ad.model", "item.model", "vehicle.model", "car.model"}
	mpAdID  = []string{"adId", "itemId", "listingId", "advertisementId", "adUrn", "ad.id", "item.id", "listing.id",
		"advertisement.id", "ad.urn"}
	mpAdURL = []string{"adUrl", "itemUrl", "listingUrl", "vipUrl", "url", "ad.url", "item.url", "listing.url", "ad.vipUrl", "ad.link"}
	mpSite  = []string{"site", "siteCode", "siteId", "platform", "tenant", "marketplace", "brand", "source",
		"ad.site", "item.site", "ad.platform"}
)

// Field limits of the dialer (dialer's fieldLimits), in characters.
const (
	maxName     = 200
	maxEmail    = 254
	maxInterest = 200
	maxMessage  = 2000
	maxSubject  = 200
)

// lead reads the event's lead: channel webhook, sender marktplaats, the event id as
// Message-ID and, prefixed, as idempotency key. missing says why there is no lead that
// can be called (no eventData, no phone number); "" when there may be one.
func (ev mpEvent) lead() (in dialer.LeadInput, missing string) {
	in = dialer.LeadInput{Channel: dialer.ChannelWebhook, Sender: senderMarktplaats, Source: ev.site()}
	id := oneLine(ev.id, maxIdempotencyKey)
	if id == "" || id != ev.id || len("marktplaats:"+id) > maxIdempotencyKey {
		id = "sha256:" + ev.bodyHash // no id, or one that cannot be a key: the same body is the same event
	}
	in.MessageID, in.IdempotencyKey = id, "marktplaats:"+id
	what := "a Marktplaats event"
	if ev.eventType != "" {
		what = fmt.Sprintf("the Marktplaats event (eventType %s)", ev.eventType)
	}
	if ev.data == nil {
		return in, what + " has no eventData object, so it holds no lead"
	}
	in.Phone = oneLine(first(ev.data, mpPhone), 64)
	in.Name = oneLine(first(ev.data, mpName), maxName)
	if in.Name == "" {
		for _, fl := range mpFirstLast {
			if n := oneLine(textAt(ev.data, fl[0])+" "+textAt(ev.data, fl[1]), maxName); n != "" {
				in.Name = n
				break
			}
		}
	}
	if e := oneLine(first(ev.data, mpEmail), maxEmail); e != "" {
		if a, err := mail.ParseAddress(e); err == nil && a.Address == e {
			in.Email = e
		}
	}
	in.Interest = oneLine(first(ev.data, mpTitle), maxInterest)
	if in.Interest == "" {
		in.Interest = oneLine(first(ev.data, mpMake)+" "+first(ev.data, mpModel), maxInterest)
	}
	var ad []string
	if id := oneLine(first(ev.data, mpAdID), 100); id != "" {
		ad = append(ad, "ad "+id)
	}
	if u := oneLine(first(ev.data, mpAdURL), 500); u != "" {
		ad = append(ad, u)
	}
	footer := ""
	if len(ad) > 0 {
		footer = in.Source + " " + strings.Join(ad, ": ")
	}
	msg := text(first(ev.data, mpMessage), maxMessage-utf8.RuneCountInString(footer)-2)
	in.Message = strings.TrimSpace(msg + "\n\n" + footer)
	if in.Phone == "" {
		return in, fmt.Sprintf("%s holds no phone number of the buyer to call; looked for eventData.%s and %d more spellings "+
			"(see docs/api.md, Marktplaats webhook). The event is kept as it arrived.",
			what, strings.Join(mpPhone[:4], ", eventData."), len(mpPhone)-4)
	}
	return in, ""
}

// site is the lead's source: 2dehands or 2ememain when the event names either (its
// site, platform… or an ad URL there), else Marktplaats.
func (ev mpEvent) site() string {
	var seen []string
	for _, o := range []map[string]any{ev.data, ev.root} {
		for _, p := range slices.Concat(mpSite, mpAdURL) {
			seen = append(seen, strings.ToLower(textAt(o, p)))
		}
	}
	for _, v := range seen {
		switch {
		case strings.Contains(v, "2dehands"):
			return "2dehands"
		case strings.Contains(v, "2ememain"):
			return "2ememain"
		}
	}
	return sourceMarktplaats
}

// subject says what a rejected event was about: its type and ad.
func (ev mpEvent) subject(in dialer.LeadInput) string {
	parts := []string{}
	for _, p := range []string{ev.eventType, in.Interest} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return oneLine(strings.Join(parts, ": "), maxSubject)
}

// first is the text of the first of paths in o that has one.
func first(o map[string]any, paths []string) string {
	for _, p := range paths {
		if v := textAt(o, p); strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// textAt is the value at the dotted path in o as text: a string, or a number as
// written; "" for anything else or nothing.
func textAt(o map[string]any, path string) string {
	switch v := valueAt(o, path).(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// valueAt is the value at the dotted path in o, keys compared by normKey; nil when
// there is none.
func valueAt(o map[string]any, path string) any {
	var v any = o
	for key := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = nil
		if x, ok := m[key]; ok {
			v = x
			continue
		}
		want := normKey(key)
		for k, x := range m {
			if normKey(k) == want {
				v = x
				break
			}
		}
	}
	return v
}

// normKey is a JSON key lower-cased without "_", "-" and spaces: buyer_phone,
// buyerPhone and Buyer-Phone are one key.
func normKey(k string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', ' ':
			return -1
		}
		return unicode.ToLower(r)
	}, k)
}

// invisible reports whether r is a control character, a bidirectional embedding,
// override or isolate, or a byte order mark: nothing a lead should hold.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cc, r) || r == '\uFEFF' || '\u202A' <= r && r <= '\u202E' || '\u2066' <= r && r <= '\u2069'
}

// oneLine is s on one line: white space runs made one space, invisible characters
// dropped, trimmed, and cut to max characters.
func oneLine(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
		case invisible(r):
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
	}
	return cut(b.String(), max)
}

// text is s with its line breaks kept (as \n) and each line made oneLine, cut to max
// characters.
func text(s string, max int) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = oneLine(l, maxMessage)
	}
	return cut(strings.TrimSpace(strings.Join(lines, "\n")), max)
}

// cut cuts s to max characters (none when max < 1).
func cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	return strings.TrimSpace(string([]rune(s)[:max]))
}
