// Package reportmail makes the owner's weekly report mail (dealers[].reports): when it
// is due (Schedule.Next: the day and time in the dealer's zone, on the local clock across
// daylight saving time, and the ISO week that makes one mail per dealer and week) and
// what it says (Compose: the report dialer.BuildReport makes, as a sentence and two
// tables, in a text part and an HTML part that reads on a phone).
//
// Which report is due is the store's to keep and to send once (store/reportmail.go),
// through the relay (mailout), wired in cmd. reportmail imports dialer and mailout. It
// must not import store, api, config, metrics or sip.
package reportmail
