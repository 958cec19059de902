// Package weborigin writes web origins (scheme://host[:port]) in the one form browsers
// send in Origin, for the configuration, which checks a dealer's allowed_origins, and
// for the API, which compares the Origin and Referer of form posts with them.
//
// It imports only the standard library, and no leadline package imports anything for it.
package weborigin
