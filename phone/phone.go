package phone

import (
	"errors"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Sentinels to branch on with errors.Is. The errors Normalize and ParseTarget return
// wrap one of them; their Error text is the specific reason ("too short"), not the
// sentinel's.
var (
	// ErrInvalid: the text is not a phone number, or not a valid one.
	ErrInvalid = errors.New("invalid phone number")
	// ErrNoRegion: a national number was given but no country to read it in.
	ErrNoRegion = errors.New("national number without a country")
	// ErrNotAllowed: a valid number of a kind Leadline does not call (premium rate…).
	ErrNotAllowed = errors.New("number not allowed")
	// ErrInvalidURI: a sip: or sips: URI that is malformed or unsafe.
	ErrInvalidURI = errors.New("invalid sip uri")
)

// reasonError is a user-facing reason that unwraps to one of the sentinels.
type reasonError struct {
	kind   error
	reason string
}

func (e *reasonError) Error() string { return e.reason }
func (e *reasonError) Unwrap() error { return e.kind }

func fail(kind error, reason string) error { return &reasonError{kind: kind, reason: reason} }

// maxInput bounds what Normalize looks at; no dialable number comes near it.
const maxInput = 64

// Normalize returns raw as an E.164 number ("+31612345678"). raw may be international
// ("+31 6 1234 5678", "0031 6 12345678") or national ("06-12345678"), which is read as
// a number of region, an ISO 3166 code such as "NL" (any case). Spaces, dashes, dots,
// slashes and parentheses are ignored; letters, extensions and anything else are not.
//
// The error wraps ErrInvalid when raw is not a valid number, ErrNoRegion when it is
// national and region is empty or unknown, and ErrNotAllowed when it is valid but of a
// kind that is never called: premium rate, shared cost, personal, pager, voicemail,
// emergency numbers and short codes (112, 1200, 116000, 14020…).
func Normalize(raw, region string) (string, error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fail(ErrInvalid, "no phone number given")
	}
	if len(s) > maxInput {
		return "", fail(ErrInvalid, "too long to be a phone number")
	}
	if hasExtension(s) {
		return "", fail(ErrInvalid, "extensions are not supported")
	}
	var digits strings.Builder
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+':
			if i != 0 {
				return "", fail(ErrInvalid, "a + may only start the number")
			}
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/' || r == '\t':
		default:
			return "", fail(ErrInvalid, "contains characters that are not part of a phone number")
		}
	}
	d := digits.String()
	if d == "" {
		return "", fail(ErrInvalid, "no digits in the phone number")
	}
	known := KnownRegion(region)
	var input string
	switch {
	case plus:
		input = "+" + d
	case !known && strings.HasPrefix(d, "00"):
		// No region to take the international prefix from: 00 is by far the most
		// common one, and the only reading that can succeed.
		input = "+" + d[2:]
	case !known:
		if region == "" {
			return "", fail(ErrNoRegion, "not in international format (+…) and no country to read it in")
		}
		return "", fail(ErrNoRegion, "not in international format (+…) and "+strconv.Quote(region)+" is not a known country")
	default:
		input = d
	}
	if !known {
		region = ""
	}
	num, err := phonenumbers.Parse(input, region)
	if err != nil {
		if reason := shortCode(d, region, plus); reason != "" {
			return "", fail(ErrNotAllowed, reason)
		}
		return "", parseError(err)
	}
	if !phonenumbers.IsValidNumber(num) {
		if reason := shortCode(d, region, plus); reason != "" {
			return "", fail(ErrNotAllowed, reason)
		}
	}
	where := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", fail(ErrInvalid, "unknown country code +"+strconv.Itoa(int(num.GetCountryCode())))
	case phonenumbers.TOO_SHORT:
		return "", fail(ErrInvalid, "too short")
	case phonenumbers.TOO_LONG:
		return "", fail(ErrInvalid, "too long")
	}
	if !phonenumbers.IsValidNumber(num) {
		if where == "" || where == "ZZ" || where == "001" {
			return "", fail(ErrInvalid, "not a valid phone number")
		}
		return "", fail(ErrInvalid, "not a valid phone number for "+where)
	}
	typ := phonenumbers.GetNumberType(num)
	if reason := notCalled(typ); reason != "" {
		return "", fail(ErrNotAllowed, reason)
	}
	if isShortService(num, typ) {
		return "", fail(ErrNotAllowed, shortReason)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

const shortReason = "short numbers (service codes such as 1200 or 14020) are not called; give a full phone number"

// shortCode says why the national digits d are not called when they are an emergency
// number or a short code of region (112, 1200, 116000…), or returns "". Numbers given
// in international format are never short codes.
func shortCode(d, region string, plus bool) string {
	if plus || region == "" || strings.HasPrefix(d, "00") {
		return ""
	}
	if phonenumbers.ConnectsToEmergencyNumber(d, region) {
		return "emergency numbers are not called"
	}
	num, err := phonenumbers.Parse(d, region)
	if err != nil {
		return ""
	}
	if phonenumbers.IsValidShortNumberForRegion(num, region) {
		return shortReason
	}
	return ""
}

// maxShortNSN is the longest national significant number counted as a short code when
// libphonenumber deems it a valid number of no personal kind, such as the Dutch
// municipal numbers 14 + area code ("14020").
const maxShortNSN = 6

// isShortService reports whether a valid number is a short service number: at most
// maxShortNSN national digits and not a fixed line or mobile number (a few small
// countries have six-digit subscriber numbers; those stay callable).
func isShortService(num *phonenumbers.PhoneNumber, t phonenumbers.PhoneNumberType) bool {
	switch t {
	case phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
		return false
	}
	return len(phonenumbers.GetNationalSignificantNumber(num)) <= maxShortNSN
}

// hasExtension reports whether s is a number followed by an extension: "… ext 12",
// "… x12", "…#12".
func hasExtension(s string) bool {
	l := strings.ToLower(s)
	i := strings.IndexAny(l, "ex#")
	if i < 0 {
		return false
	}
	number, ext := l[:i], l[i:]
	for _, mark := range []string{"extension", "ext.", "ext", "x", "#"} {
		if rest, ok := strings.CutPrefix(ext, mark); ok {
			ext = strings.TrimLeft(rest, " .:")
			break
		}
	}
	return strings.ContainsAny(number, "0123456789") && strings.Trim(number, "0123456789+-.()/ \t") == "" &&
		strings.Trim(ext, "0123456789") == "" && ext != ""
}

// parseError turns a phonenumbers parse error into a reason.
func parseError(err error) error {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return fail(ErrInvalid, "unknown country code")
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return fail(ErrInvalid, "too short")
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return fail(ErrInvalid, "too long")
	default:
		return fail(ErrInvalid, "not a phone number")
	}
}

// notCalled says why numbers of type t are not called, or "" when they are.
func notCalled(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.PREMIUM_RATE:
		return "premium-rate numbers are not called"
	case phonenumbers.SHARED_COST:
		return "shared-cost numbers are not called"
	case phonenumbers.PERSONAL_NUMBER:
		return "personal (forwarding) numbers are not called"
	case phonenumbers.PAGER:
		return "pager numbers are not called"
	case phonenumbers.VOICEMAIL:
		return "voicemail access numbers are not called"
	case phonenumbers.UNKNOWN:
		return "numbers of an unknown kind are not called"
	}
	return ""
}

// Region returns the ISO 3166 region ("NL") of an E.164 number, or "" when e164 is not
// a number in international format or belongs to no single country (+800…).
func Region(e164 string) string {
	if !strings.HasPrefix(e164, "+") || len(e164) > maxInput {
		return ""
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	r := phonenumbers.GetRegionCodeForNumber(num)
	if r == "ZZ" || r == "001" {
		return ""
	}
	return r
}

// KnownRegion reports whether region (any case) is a country phonenumbers knows, so
// that national numbers can be read in it.
func KnownRegion(region string) bool {
	r := strings.ToUpper(region)
	return len(r) == 2 && phonenumbers.GetCountryCodeForRegion(r) != 0
}
