// Package reportmail makes the owner's weekly report mail (dealers[].reports): when it
// is due (Schedule.Next: the day and time in the dealer's zone, on the local clock across
// daylight saving time, and the ISO week that makes one mail per dealer and week) and
// what it says (Compose: the report dialer.BuildReport makes, as a sentence and two
// tables, in a text part and an HTML part that reads on a phone).
//
// Sender is the store's ReportMailer: it plans each dealer's next mail by its Schedule
// and makes one try of a mail the store's job hands it (the report of its days from
// Reports, composed, to the relay), counting what became of it (kind "report"). Which
// mail is due, and that each goes once, is the store's to keep (store/reportmail.go);
// cmd wires the two. reportmail imports dialer and mailout. It
// must not import store, api, config, metrics or sip.
package reportmail
