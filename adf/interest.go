package adf

import (
	"regexp"
	"strings"
)

// Vehicles reads a lead's interest (free text: "Volvo XC60", "2024 Volvo XC60 T6 (stock
// 123, VIN …)", or anything a customer typed) back into vehicles for an ADF document,
// the inverse of what Prospect.Lead makes of a prospect's vehicles. Nothing is made up:
//   - the interest is split at "; " into vehicles, and one that starts with "trade-in: "
//     or "sell: " is the customer's own (that interest);
//   - "(stock …, VIN …)" at the end gives the stock number and VIN;
//   - a leading year from 1900 to 2099 is the year;
//   - a leading make from a list of makes sold in Europe and North America (any case;
//     written as the list writes it) is the make, and what follows it the model;
//   - anything else is the model, all of it: "red SUV under 20k" is not split into a
//     make "red" and a model "SUV under 20k".
//
// Year, make and model stay empty when unknown: ADF requires the elements, not text in
// them. An empty interest gives no vehicle.
func Vehicles(interest string) []Vehicle {
	var out []Vehicle
	for _, part := range strings.Split(interest, "; ") {
		part = cleanLine(part)
		if part == "" {
			continue
		}
		var v Vehicle
		for _, own := range []string{"trade-in", "sell"} {
			if rest, ok := cutPrefixFold(part, own+": "); ok {
				v.Interest, part = own, rest
				break
			}
		}
		if m := stockVIN.FindStringSubmatch(part); m != nil {
			part = strings.TrimSpace(part[:len(part)-len(m[0])])
			v.Stock, v.VIN = m[2], m[4]
		}
		if m := leadingYear.FindStringSubmatch(part); m != nil {
			v.Year, part = m[1], strings.TrimSpace(part[len(m[0]):])
		}
		if mk, rest, ok := knownMake(part); ok {
			v.Make, part = mk, rest
		}
		v.Model = part
		out = append(out, v)
	}
	return out
}

var (
	// stockVIN is describe's "(stock 123, VIN …)" at the end of a vehicle's text.
	stockVIN    = regexp.MustCompile(`\s*\((stock ([^,()]+?))?(?:, )?(VIN ([A-HJ-NPR-Z0-9]{11,17}))?\)$`)
	leadingYear = regexp.MustCompile(`^((?:19|20)\d\d)(?:\s+|$)`)
)

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// knownMake finds a make at the start of s, as a whole word, and returns it as the
// list writes it with the rest of s. A make that is also a word ("mini van", "smart
// choice") counts only written as the make is (or in capitals).
func knownMake(s string) (mk, rest string, ok bool) {
	for _, m := range makes { // longest first where one make starts another
		r, found := cutPrefixFold(s, m)
		if !found || r != "" && r[0] != ' ' {
			continue
		}
		if word := s[:len(m)]; wordMakes[m] && word != m && word != strings.ToUpper(m) {
			continue
		}
		return m, strings.TrimSpace(r), true
	}
	return "", s, false
}

// wordMakes are the makes that are also ordinary words.
var wordMakes = map[string]bool{"Mini": true, "Smart": true, "Ram": true, "Seat": true, "Genesis": true, "Lotus": true, "Jaguar": true}

// makes are car makes as their makers write them, longer names before the shorter ones
// they start with (Mercedes-Benz before Mercedes, Land Rover before …).
var makes = []string{
	"Alfa Romeo", "Aston Martin", "Audi", "Bentley", "BMW", "Buick", "BYD", "Cadillac", "Chevrolet",
	"Chrysler", "Citroën", "Citroen", "Cupra", "Dacia", "Dodge", "DS", "Ferrari", "Fiat", "Ford",
	"Genesis", "GMC", "Honda", "Hyundai", "Infiniti", "Isuzu", "Iveco", "Jaguar", "Jeep", "Kia",
	"Lamborghini", "Lancia", "Land Rover", "Lexus", "Lincoln", "Lotus", "Lynk & Co", "Maserati",
	"Mazda", "McLaren", "Mercedes-Benz", "Mercedes", "MG", "Mini", "Mitsubishi", "Nissan", "Opel",
	"Peugeot", "Polestar", "Porsche", "Ram", "Renault", "Rolls-Royce", "Saab", "Seat", "Škoda", "Skoda",
	"Smart", "SsangYong", "Subaru", "Suzuki", "Tesla", "Toyota", "Vauxhall", "Volkswagen", "VW", "Volvo",
}
