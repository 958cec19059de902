// Package phone turns what people type as a phone number into E.164, and tells a
// person's configured phone (a number or a SIP URI) apart.
//
// It owns the rules for which numbers Leadline will call: a number must be valid for
// its country according to libphonenumber (github.com/nyaruka/phonenumbers), and
// premium-rate, shared-cost, personal, pager and voicemail-access numbers, emergency
// numbers and short codes (112, 1200, 116000, 14020…) are refused with ErrNotAllowed. Every error's text is a short lowercase sentence that can be
// shown to the person who typed the number; branch on the sentinels ErrInvalid,
// ErrNoRegion, ErrNotAllowed and ErrInvalidURI with errors.Is.
//
// phone imports no other leadline package; config, api and dialer import it.
package phone
