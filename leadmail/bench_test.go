package leadmail

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// typicalADFMail is an 8 KB (7,963 bytes) lead mail as CRMs send it: multipart/mixed with a
// multipart/alternative text and HTML body (quoted-printable) and the ADF document as a
// base64 application/xml attachment.
func typicalADFMail() []byte {
	adfDoc := `<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<adf>
 <prospect status="new">
  <id sequence="1" source="DealerDesk">DD-88001</id>
  <requestdate>2026-11-27T09:58:12+01:00</requestdate>
  <vehicle interest="buy" status="used">
   <year>2021</year><make>Volvo</make><model>XC60</model><trim>B4 Momentum Pro</trim>
   <vin>YV1UZK1V1M1234567</vin><stock>JV-4471</stock>
   <price type="asking" currency="EUR">38950</price><odometer status="original" units="km">48210</odometer>
  </vehicle>
  <customer>
   <contact primarycontact="1">
    <name part="first">Eva</name><name part="last">Jansen</name>
    <email>eva.jansen@example.nl</email>
    <phone type="voice" time="day" preferredcontact="1">06-12345678</phone>
    <phone type="voice" time="evening">020-1234567</phone>
    <address><street line="1">Keizersgracht 100</street><city>Amsterdam</city><postalcode>1015 AA</postalcode><country>NL</country></address>
   </contact>
   <comments>Is de auto nog beschikbaar? Ik kan zaterdag langskomen voor een proefrit. Inruil: Golf 2015.</comments>
  </customer>
  <vendor><vendorname>Autohuis Jansen</vendorname><contact><name part="full">Verkoop</name><email>verkoop@autohuisjansen.nl</email></contact></vendor>
  <provider><name part="full">DealerDesk</name><service>Lead routing</service><url>https://dealerdesk.example.com</url></provider>
 </prospect>
</adf>
`
	enc := base64.StdEncoding.EncodeToString([]byte(adfDoc))
	var att strings.Builder
	for i := 0; i < len(enc); i += 76 {
		att.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
	}
	text := strings.Repeat("Er is een nieuwe lead binnengekomen via DealerDesk voor de Volvo XC60 (JV-4471).\r\n", 23)
	html := "<html><head><style>td{font-family:Arial;padding:4px}</style></head><body><table>" +
		strings.Repeat("<tr><td>Er is een nieuwe lead binnengekomen via DealerDesk</td><td>Volvo XC60 JV-4471</td></tr>\r\n", 35) +
		"</table></body></html>\r\n"
	return fmt.Appendf(nil, "From: DealerDesk <noreply@dealerdesk.example.com>\r\n"+
		"To: jansen@leads.example.com\r\nSubject: Lead DD-88001: Volvo XC60\r\n"+
		"Date: Fri, 27 Nov 2026 10:15:02 +0000\r\nMessage-ID: <lead-88001@dealerdesk.example.com>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n"+
		"--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"+
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n"+
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n"+
		"--alt--\r\n"+
		"--mix\r\nContent-Type: application/xml; name=\"lead.xml\"\r\nContent-Disposition: attachment; filename=\"lead.xml\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n%s"+
		"--mix--\r\n", text, html, att.String())
}

func BenchmarkExtract(b *testing.B) {
	raw := typicalADFMail()
	if res, err := Extract(raw, testRules); err != nil || len(res.Leads) != 1 {
		b.Fatalf("%d bytes: %+v, %v", len(raw), res, err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Extract(raw, testRules); err != nil {
			b.Fatal(err)
		}
	}
}
