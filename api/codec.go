package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
)

// This file holds decode (request bodies in), validate (headers and query parameters) and
// encode (JSON out). The JSON shape of a lead is package leadview's.

// bodyKind is a lead body's accepted media type.
type bodyKind int

const (
	bodyJSON bodyKind = iota + 1
	bodyForm
	bodyADF // application/xml, text/xml or application/x-adf+xml (adf.go)
)

const (
	mediaJSON = "application/json"
	mediaForm = "application/x-www-form-urlencoded"
)

// maxIdempotencyKey is the longest Idempotency-Key accepted, in bytes.
const maxIdempotencyKey = 255

// leadFields maps each lead input field, in JSON and in forms, to where it is stored.
// The names are dialer.LeadInput's json tags.
var leadFields = map[string]func(*dialer.LeadInput) *string{
	"phone":       func(in *dialer.LeadInput) *string { return &in.Phone },
	"name":        func(in *dialer.LeadInput) *string { return &in.Name },
	"email":       func(in *dialer.LeadInput) *string { return &in.Email },
	"source":      func(in *dialer.LeadInput) *string { return &in.Source },
	"interest":    func(in *dialer.LeadInput) *string { return &in.Interest },
	"message":     func(in *dialer.LeadInput) *string { return &in.Message },
	"assigned_to": func(in *dialer.LeadInput) *string { return &in.AssignedTo },
	"external_id": func(in *dialer.LeadInput) *string { return &in.ExternalID },
}

// controlFields maps each form control field (see forms.go) to where it is kept.
var controlFields = map[string]func(*formControl) *string{
	fieldFormKey:  func(c *formControl) *string { return &c.FormKey },
	fieldHoneypot: func(c *formControl) *string { return &c.Honeypot },
	fieldRedirect: func(c *formControl) *string { return &c.Redirect },
}

// bodyField returns where the body member key is stored: in the lead or among the
// form controls; ok is false for an unknown member.
func bodyField(key string, in *dialer.LeadInput, ctl *formControl) (dst *string, ok bool) {
	if f, ok := leadFields[key]; ok {
		return f(in), true
	}
	if f, ok := controlFields[key]; ok {
		ctl.Sent = append(ctl.Sent, key)
		return f(ctl), true
	}
	return nil, false
}

// isBodyField reports whether key is a lead field or a form control field.
func isBodyField(key string) bool {
	_, lead := leadFields[key]
	_, control := controlFields[key]
	return lead || control
}

// ---- decode ----

// acceptPost lists the media types of POST /v1/leads, for Accept-Post.
const acceptPost = mediaJSON + ", " + mediaForm + ", " + mediaXML + ", " + mediaTextXML + ", " + mediaADF

// leadBodyKind tells from a Content-Type header how to decode a lead. JSON and forms
// must be UTF-8; an ADF document's encoding is read from the document (its byte order
// mark or <?xml encoding?>), as the adf package does, whatever charset says.
func leadBodyKind(contentType string) (bodyKind, error) {
	unsupported := func(detail string) error {
		return &requestError{
			status: http.StatusUnsupportedMediaType,
			kind:   "unsupported-media-type",
			title:  "Unsupported media type",
			detail: detail,
			header: map[string]string{"Accept-Post": acceptPost},
		}
	}
	const send = "Send the lead as " + mediaJSON + " or " + mediaForm + ", or an ADF document as " + mediaXML + "."
	if strings.TrimSpace(contentType) == "" {
		return 0, unsupported("The request has no Content-Type. " + send)
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, unsupported("The Content-Type header cannot be parsed. " + send)
	}
	switch mt {
	case mediaXML, mediaTextXML, mediaADF:
		return bodyADF, nil
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return 0, unsupported("Only UTF-8 bodies are accepted; send charset=utf-8 or no charset.")
	}
	switch mt {
	case mediaJSON:
		return bodyJSON, nil
	case mediaForm:
		return bodyForm, nil
	case "multipart/form-data":
		return 0, unsupported(`Multipart forms are not accepted. Post the form as ` + mediaForm +
			` (the default of an HTML form without enctype) or send JSON.`)
	}
	return 0, unsupported(fmt.Sprintf("Content-Type %s is not accepted. %s", mt, send))
}

// readBody reads r's body up to max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &requestError{
				status: http.StatusRequestEntityTooLarge,
				kind:   "body-too-large",
				title:  "Request body too large",
				detail: fmt.Sprintf("The request body is larger than %d bytes. Shorten the message field.", max),
			}
		}
		return nil, badRequest("The request body could not be read completely; send it again.")
	}
	return body, nil
}

// decodeLead decodes a lead body of the given kind: the lead fields and the form
// control fields (form_key, website, redirect). Errors: a *requestError (400) for a
// body that cannot be parsed, a *dialer.ValidationError naming each unknown, repeated or
// mistyped field. The control fields are returned even with a validation error.
func decodeLead(kind bodyKind, body []byte) (dialer.LeadInput, formControl, error) {
	if kind == bodyForm {
		return decodeLeadForm(body)
	}
	return decodeLeadJSON(body)
}

// decodeLeadJSON decodes a JSON object whose members are lead fields with string (or
// null) values. It reads the object token by token so that it can name every unknown or
// repeated member, and refuses anything after the object.
func decodeLeadJSON(body []byte) (dialer.LeadInput, formControl, error) {
	var (
		in  dialer.LeadInput
		ctl formControl
	)
	if len(bytes.TrimSpace(body)) == 0 {
		return in, ctl, badRequest(`The request body is empty. Send a JSON object such as {"phone": "+31612345678", "name": "Eva Jansen"}.`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return in, ctl, jsonSyntaxError(body, dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return in, ctl, badRequest(`The body must be a JSON object, {"phone": "…", …}; it is %s.`, jsonKind(tok))
	}
	verr := &dialer.ValidationError{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return in, ctl, jsonSyntaxError(body, dec, err)
		}
		key, ok := tok.(string)
		if !ok { // the decoder only returns strings for object keys; be safe anyway
			return in, ctl, badRequest("Malformed JSON at byte %d: expected a member name.", dec.InputOffset())
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return in, ctl, jsonSyntaxError(body, dec, err)
		}
		repeated := seen[key]
		seen[key] = true
		switch {
		case !isBodyField(key):
			if !repeated {
				verr.Fields = append(verr.Fields, dialer.FieldError{Field: fieldName(key), Detail: unknownFieldDetail(key)})
			}
		case repeated:
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: key, Detail: "is given more than once; send it once"})
		default:
			dst, _ := bodyField(key, &in, &ctl)
			if string(raw) == "null" {
				continue
			}
			if err := json.Unmarshal(raw, dst); err != nil {
				verr.Fields = append(verr.Fields, dialer.FieldError{Field: key,
					Detail: fmt.Sprintf("must be a JSON string, in double quotes; it is %s", jsonKind(firstToken(raw)))})
			} else if !unicodeText(raw) {
				// encoding/json would have made U+FFFD of it without a word.
				verr.Fields = append(verr.Fields, dialer.FieldError{Field: key,
					Detail: "is not valid UTF-8 (or holds a \\u escape of half a surrogate pair); send the text as UTF-8"})
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing }
		return in, ctl, jsonSyntaxError(body, dec, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		off := dec.InputOffset()
		line, col := position(body, off)
		return in, ctl, badRequest("There is more after the JSON object, at line %d, column %d. Send exactly one object.", line, col)
	}
	if len(verr.Fields) > 0 {
		return in, ctl, verr
	}
	return in, ctl, nil
}

// decodeLeadForm decodes an application/x-www-form-urlencoded lead.
func decodeLeadForm(body []byte) (dialer.LeadInput, formControl, error) {
	var (
		in  dialer.LeadInput
		ctl formControl
	)
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return in, ctl, badRequest("The form body is not valid %s: %v. Percent-encode the values.", mediaForm, err)
	}
	verr := &dialer.ValidationError{}
	for _, key := range slices.Sorted(maps.Keys(vals)) {
		vs := vals[key]
		dst, known := bodyField(key, &in, &ctl)
		switch {
		case !known:
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: fieldName(key), Detail: unknownFieldDetail(key)})
		case len(vs) > 1:
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: key,
				Detail: fmt.Sprintf("is given %d times; send it once", len(vs))})
		default:
			*dst = vs[0]
		}
	}
	if len(verr.Fields) > 0 {
		return in, ctl, verr
	}
	return in, ctl, nil
}

// unicodeText reports whether the JSON string raw (well-formed, quotes included) is
// Unicode text: valid UTF-8, and no \u escape of a lone UTF-16 surrogate.
func unicodeText(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r := hex4(raw[i+1:])
		i += 4
		switch {
		case !utf16.IsSurrogate(r):
		case r < 0xdc00 && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' && isLowSurrogate(hex4(raw[i+3:])):
			i += 6 // a high surrogate and its low one
		default:
			return false
		}
	}
	return true
}

// hex4 reads four hex digits; -1 when b does not start with them.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	if err != nil {
		return -1
	}
	return rune(n)
}

func isLowSurrogate(r rune) bool { return r >= 0xdc00 && r <= 0xdfff }

// jsonSyntaxError says where the JSON in body went wrong.
func jsonSyntaxError(body []byte, dec *json.Decoder, err error) error {
	if serr, ok := errors.AsType[*json.SyntaxError](err); ok {
		line, col := position(body, serr.Offset)
		return badRequest("Malformed JSON at line %d, column %d: %s.", line, col, serr.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return badRequest("The JSON ends at byte %d before the object is complete; check for a missing } or \".", len(body))
	}
	return badRequest("Malformed JSON near byte %d.", dec.InputOffset())
}

// position turns a byte offset into a 1-based line and column (in characters).
func position(body []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(body)))
	before := body[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// jsonKind names a JSON value by its first token, for messages.
func jsonKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "not a JSON value"
}

func firstToken(raw json.RawMessage) json.Token {
	tok, _ := json.NewDecoder(bytes.NewReader(raw)).Token()
	return tok
}

// fieldName is a client's unknown field name, cut short for echoing back.
func fieldName(key string) string {
	const maxLen = 64
	if utf8.RuneCountInString(key) <= maxLen {
		return key
	}
	return string([]rune(key)[:maxLen]) + "…"
}

func unknownFieldDetail(key string) string {
	for name := range leadFields {
		if strings.EqualFold(name, key) || strings.EqualFold(strings.ReplaceAll(name, "_", ""), strings.ReplaceAll(key, "-", "")) {
			return fmt.Sprintf("is not a lead field; did you mean %q? (names are lower case)", name)
		}
	}
	return "is not a lead field; the fields are phone, name, email, source, interest, message, assigned_to and external_id"
}

// ---- validate ----

// idempotencyKey returns the request's Idempotency-Key, "" when absent. A key in quotes,
// as draft-ietf-httpapi-idempotency-key-header writes it, is taken without them.
func idempotencyKey(h http.Header) (string, error) {
	const field = "Idempotency-Key"
	vs := h.Values(field)
	if len(vs) == 0 {
		return "", nil
	}
	fail := func(detail string) error {
		return &dialer.ValidationError{Fields: []dialer.FieldError{{Field: field, Detail: detail}}}
	}
	if len(vs) > 1 {
		return "", fail(fmt.Sprintf("is sent %d times; send one key per request", len(vs)))
	}
	key := strings.TrimSpace(vs[0])
	if len(key) >= 2 && key[0] == '"' && key[len(key)-1] == '"' {
		key = key[1 : len(key)-1]
	}
	switch {
	case key == "":
		return "", fail("is empty; send a unique key per lead (a UUID, for example) or leave the header out")
	case len(key) > maxIdempotencyKey:
		return "", fail(fmt.Sprintf("is %d characters long; at most %d are allowed", len(key), maxIdempotencyKey))
	}
	for i := range len(key) {
		if c := key[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", fail("may contain only printable ASCII characters other than \" and \\")
		}
	}
	return key, nil
}

// joinValidation merges validation errors so that one answer lists every bad field; any
// other error wins as it is.
func joinValidation(errs ...error) error {
	var merged *dialer.ValidationError
	for _, err := range errs {
		if err == nil {
			continue
		}
		verr, ok := errors.AsType[*dialer.ValidationError](err)
		if !ok {
			return err
		}
		if merged == nil {
			merged = &dialer.ValidationError{}
		}
		merged.Fields = append(merged.Fields, verr.Fields...)
	}
	if merged == nil {
		return nil
	}
	return merged
}

// Limits of GET /v1/leads.
const (
	defaultLimit = 50
	maxLimit     = 100
	maxCursor    = 1024
)

// listQuery validates GET /v1/leads's query parameters, naming each bad one (422). A
// cursor too long to be one of ours is refused as the store refuses a cursor it did not
// give out (400), when nothing else is wrong.
func listQuery(dealer string, vals url.Values) (dialer.ListQuery, error) {
	q := dialer.ListQuery{Dealer: dealer}
	var err error
	q.Limit, q.Cursor, err = pageQuery(vals, map[string]func(string) string{
		"status": func(v string) string {
			if v == "" {
				return ""
			}
			if s := dialer.Status(v); s.Valid() {
				q.Status = s
				return ""
			}
			names := make([]string, len(dialer.Statuses))
			for i, s := range dialer.Statuses {
				names[i] = string(s)
			}
			return "must be one of " + strings.Join(names, ", ")
		},
	})
	return q, err
}

// pageQuery validates the query of a paginated list: limit and cursor, and the
// parameters of extra, each of which takes its value and says what is wrong with it
// ("" for nothing). Each bad parameter is named (422); a cursor too long to be one of
// ours is refused as the store refuses a cursor it did not give out (400), when nothing
// else is wrong.
func pageQuery(vals url.Values, extra map[string]func(string) string) (limit int, cursor string, err error) {
	limit = defaultLimit
	names := append(slices.Sorted(maps.Keys(extra)), "limit", "cursor")
	cursorTooLong := false
	verr := &dialer.ValidationError{}
	bad := func(field, format string, args ...any) {
		verr.Fields = append(verr.Fields, dialer.FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	for _, key := range slices.Sorted(maps.Keys(vals)) {
		vs := vals[key]
		if !slices.Contains(names, key) {
			bad(fieldName(key), "is not a query parameter; use %s and %s", strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
			continue
		}
		if len(vs) > 1 {
			bad(key, "is given %d times; give it once", len(vs))
			continue
		}
		v := vs[0]
		switch key {
		case "limit":
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxLimit {
				bad(key, "must be a whole number from 1 to %d (default %d)", maxLimit, defaultLimit)
				continue
			}
			limit = n
		case "cursor":
			if len(v) > maxCursor {
				cursorTooLong = true
				continue
			}
			cursor = v
		default:
			if detail := extra[key](v); detail != "" {
				bad(key, "%s", detail)
			}
		}
	}
	switch {
	case len(verr.Fields) > 0:
		return limit, cursor, verr
	case cursorTooLong:
		return limit, cursor, badCursor()
	}
	return limit, cursor, nil
}

// ---- encode ----

// encode answers v as JSON with the given status.
func encode(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, mediaJSON, v)
}

// writeJSON answers v, which must marshal without error, as contentType. <, > and & are
// written as they are, not as \u escapes: a Message-ID reads <id@host>, and the answer
// is never taken for HTML (nosniff).
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode ends with a newline
		// Only a programming error (an unmarshalable type) gets here.
		panic(fmt.Sprintf("api: encoding %T: %v", v, err))
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store") // leads are personal data
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// leadList is the answer to GET /v1/leads.
type leadList struct {
	Leads      []leadview.Lead `json:"leads"`
	NextCursor string          `json:"next_cursor,omitempty"`
}
