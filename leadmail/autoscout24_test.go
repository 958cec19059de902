package leadmail

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestAutoScout24Subjects reads each subject shape of AutoScout24's documentation for
// lead management systems, filled in, without an XML block or a number in the text.
func TestAutoScout24Subjects(t *testing.T) {
	tests := []struct {
		country, subject          string
		kind                      callKind
		sellID, time, vehicle, id string
	}{
		{"NL", "Klantnr: 123456. Gemiste oproep voor VOLVO XC60 (abc-123/JV-4471)", callMissed, "123456", "", "VOLVO XC60", "abc-123"},
		{"NL", "Klantnr: 123456 Gemiste oproep voor VOLVO XC60", callMissed, "123456", "", "VOLVO XC60", ""},
		{"NL", "Klantnr: 123456. Aangenomen oproep voor BMW 3 SERIE (abc-124)", callAnswered, "123456", "", "BMW 3 SERIE", "abc-124"},
		{"BE-NL", "Klantnr.: 654321. Miste op 14:05 een oproep over deze PEUGEOT 3008, uit (abc-125) tier", callMissed, "654321", "14:05", "PEUGEOT 3008", "abc-125"},
		{"BE-NL", "Klantnr.: 654321. Beantwoordde op 9:30 een oproep over deze KIA NIRO, uit (abc-126) tier", callAnswered, "654321", "9:30", "KIA NIRO", "abc-126"},
		{"BE-FR", "N° client : 778899. Appel manqué à 16:40, RENAULT CLIO (abc-127)", callMissed, "778899", "16:40", "RENAULT CLIO", "abc-127"},
		{"BE-FR", "N° client : 778899. Appel reçu à 16h40, DACIA DUSTER (abc-128)", callAnswered, "778899", "16h40", "DACIA DUSTER", "abc-128"},
		{"FR", "N° client : [...]. Appel manqué à 08:05, CITROEN C3 (abc-129)", callMissed, "", "08:05", "CITROEN C3", "abc-129"},
		{"DE", "Knd.-Nr: 445566. Verpasster Anruf um 11:20, VW GOLF (abc-130/S-99)", callMissed, "445566", "11:20", "VW GOLF", "abc-130"},
		{"AT", "Knd.-Nr: 445566. Angenommener Anruf um 11:20, SKODA OCTAVIA (abc-131/S-98)", callAnswered, "445566", "11:20", "SKODA OCTAVIA", "abc-131"},
		{"IT", "SellID 998877 - Richiesta telefonica senza risposta alle 17:45, FIAT 500 (abc-132)", callMissed, "998877", "17:45", "FIAT 500", "abc-132"},
		{"IT", "SellID 998877 - Richiesta telefonica accettata alle 17:45, FIAT PANDA (abc-133)", callAnswered, "998877", "17:45", "FIAT PANDA", "abc-133"},
	}
	for _, tt := range tests {
		c, ok := readAutoScout24("", tt.subject, "")
		if !ok {
			t.Errorf("%s %q: not a call notification", tt.country, tt.subject)
			continue
		}
		if c.kind != tt.kind || c.sellID != tt.sellID || c.time != tt.time || c.vehicle != tt.vehicle || c.listingID != tt.id {
			t.Errorf("%s %q:\ngot  kind %d sell %q time %q vehicle %q id %q\nwant kind %d sell %q time %q vehicle %q id %q",
				tt.country, tt.subject, c.kind, c.sellID, c.time, c.vehicle, c.listingID, tt.kind, tt.sellID, tt.time, tt.vehicle, tt.id)
		}
	}
	for _, s := range []string{"Uw maandoverzicht november", "Nieuwe aanvraag voor VOLVO XC60", "Klantnr: 123456. Uw advertentie"} {
		if _, ok := readAutoScout24("<html><!-- <x>1</x> --></html>", s, "Telefoon: 0612345678"); ok {
			t.Errorf("%q taken for a call notification", s)
		}
	}
}

func TestAutoScout24Text(t *testing.T) {
	text := "Klantnummer: 123456\nAdvertentienummer: 99887766\nTelefoonnummer beller: +31 6 12345678\n"
	c, ok := readAutoScout24("", "Klantnr: 123456. Gemiste oproep voor X", text)
	if !ok || c.phone != "+31 6 12345678" {
		t.Errorf("got %q, %v; the customer and listing numbers are not the caller's", c.phone, ok)
	}
	if c, _ := readAutoScout24("", "Klantnr: 123456. Gemiste oproep voor X", "Klantnummer: 123456\n"); c.phone != "" {
		t.Errorf("took %q for the caller's number", c.phone)
	}
}

func TestAutoScout24XMLBlock(t *testing.T) {
	body := `<html><head><!--[if mso]><style>x{}</style><![endif]--></head><body>
<!-- tracking pixel <img src="x"> -->
<!--
<?xml version="1.0" encoding="ISO-8859-1"?>
<lead>
  <CallType>Missed</CallType>
  <CALLER NUMBER="+31 6 98765432"/>
  <Caller><Phone>+31612345678</Phone></Caller>
  <listing id="L-1"><make>VOLVO</make><model>XC60</model></listing>
</lead>
-->
<p>Telefoon: 0201234567</p></body></html>`
	c, ok := readAutoScout24(body, "", "")
	if !ok || c.kind != callMissed || c.phone != "+31612345678" || c.listingID != "L-1" || c.vehicle != "VOLVO XC60" {
		t.Errorf("got %+v, %v", c, ok)
	}
	// The block's kind wins over the subject's.
	c, _ = readAutoScout24(strings.Replace(body, "Missed", "accepted", 1), "Klantnr: 1. Gemiste oproep voor X", "")
	if c.kind != callAnswered {
		t.Errorf("kind %d, want the block's: answered", c.kind)
	}
}

func TestKindOf(t *testing.T) {
	for v, want := range map[string]callKind{
		"missed": callMissed, "MISSED_CALL": callMissed, "not_answered": callMissed, "unanswered": callMissed,
		"gemist": callMissed, "accepted": callAnswered, "answered": callAnswered, "Aangenomen": callAnswered,
		"reçu": callAnswered, "call": callUnknown, "": callUnknown,
	} {
		if got := kindOf(v); got != want {
			t.Errorf("kindOf(%q) = %d, want %d", v, got, want)
		}
	}
}

// TestXMLValuesSafe: no entity but the predefined five is expanded, a DTD is not read,
// and the walk is bounded.
func TestXMLValuesSafe(t *testing.T) {
	bomb := `<!DOCTYPE lead [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">` +
		`<!ENTITY ext SYSTEM "file:///etc/passwd">]><lead><phone>&b;&ext;</phone><make>A&amp;B</make></lead>`
	v := xmlValues(bomb)
	if strings.Contains(v["phone"], "aaaa") || strings.Contains(v["phone"], "root") || v["make"] != "A&B" {
		t.Errorf("got %q", v)
	}
	deep := strings.Repeat("<a>", 10000) + "<phone>1</phone>" + strings.Repeat("</a>", 10000)
	if v := xmlValues(deep); v["phone"] != "" {
		t.Errorf("read %d levels deep", 10000)
	}
	long := "<lead><phone>" + strings.Repeat("9", 1<<20) + "</phone></lead>"
	if v := xmlValues(long); len(v["phone"]) > maxXMLValue+4 {
		t.Errorf("kept %d bytes of one value", len(v["phone"]))
	}
}

// TestAutoScout24Terminal: a recognised call notification ends the search, so a rule
// for AutoScout24's sender cannot turn an answered call into a lead; a notification
// of a kind not said is a lead.
func TestAutoScout24Terminal(t *testing.T) {
	raw, err := os.ReadFile("testdata/08-autoscout24-nl-answered.eml")
	if err != nil {
		t.Fatal(err)
	}
	greedy := []Rule{{Sender: "*@autoscout24.com", Fields: []*regexp.Regexp{regexp.MustCompile(`(?P<phone>\+\d{8,})`)}}}
	var nl *NoLeadError
	if _, err := Extract(raw, greedy); !errors.As(err, &nl) || !strings.Contains(nl.Reason, "answered-call") {
		t.Errorf("answered call with a greedy rule: %v", err)
	}

	unsaid := "From: AutoScout24 <no-reply@rtm.autoscout24.com>\r\nSubject: Klantnr: 123456. Oproep\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n<html><!-- <lead><caller><phone>+31612345678</phone></caller></lead> --></html>\r\n"
	res, err := Extract([]byte(unsaid), nil)
	if err != nil || res.Kind != KindAutoScout24 || res.Leads[0].Phone != "+31612345678" ||
		!strings.Contains(res.Leads[0].Message, "not said") {
		t.Errorf("kind not said: %+v, %v", res, err)
	}
	checkInvariants(t, res, err)
}
