package weborigin

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Canonical writes the origin of s, an http or https URL, as scheme://host[:port] in
// lower case without the scheme's default port. With page set, s may be a whole page
// address (a Referer) whose path, query and fragment are dropped; without it, s must be
// an origin alone, with at most a trailing slash. The error says, for a person, why s is
// not one. "null" (the Origin of sandboxed pages) is not an origin.
func Canonical(s string, page bool) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err != nil:
		return "", errors.New("cannot be parsed")
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		return "", errors.New("use http:// or https://")
	case u.User != nil:
		return "", errors.New("no user or password")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "", errors.New("no host")
	case !page && (u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != ""):
		return "", errors.New("no path, query or fragment")
	case strings.Contains(u.Host, "*"):
		return "", errors.New("wildcards are not supported; list each origin")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", errors.New("bad port")
		}
	}
	if port == "" || scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		return scheme + "://" + host, nil
	}
	return scheme + "://" + host + ":" + port, nil
}
