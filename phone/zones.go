package phone

import (
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"
)

var zoneCache sync.Map // IANA name → *time.Location

// Zones returns the time zones a number may be in, from its country and area (one for
// most countries; several for the United States, Russia, Australia…). Nil when the
// number or its zones are unknown.
func Zones(e164 string) []*time.Location {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return nil
	}
	names, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil {
		return nil
	}
	var out []*time.Location
	for _, n := range names {
		if l, ok := zoneCache.Load(n); ok {
			out = append(out, l.(*time.Location))
			continue
		}
		loc, err := time.LoadLocation(n)
		if err != nil {
			continue // "Etc/Unknown" and names this system lacks
		}
		zoneCache.Store(n, loc)
		out = append(out, loc)
	}
	return out
}
