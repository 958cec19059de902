package adf

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Document is an ADF 1.0 document to write: what Leadline sends a dealer's CRM. Write
// turns it into XML that validates against the ADF 1.0 DTD (testdata/adf-1.0.dtd), and
// Parse reads it back.
type Document struct {
	Prospects []Entry
}

// Entry is one <prospect> to write. Text is written as given, escaped by encoding/xml
// (characters XML cannot hold become U+FFFD); attributes the DTD does not allow (a phone
// type of "mobile", a vehicle status of "demo") are left out, so that the DTD's default
// applies.
type Entry struct {
	// Resend marks an update of a prospect sent before (status="resend"), with the same
	// IDs; otherwise the prospect is new.
	Resend bool
	// IDs name the prospect: the sender's own id first (source="Leadline"), then others
	// it is known by. Empty values are left out.
	IDs []ID
	// RequestDate is when the customer asked: written in ISO 8601 with its offset, in
	// RequestDate's location.
	RequestDate time.Time
	// Vehicles are what the customer asked about; at least one <vehicle> is written
	// (the DTD requires one), empty when there is none. Year, make and model are always
	// written, empty when unknown (the DTD requires the elements, not their text).
	Vehicles []Vehicle
	Customer Customer
	Vendor   Vendor
	// Provider is who sent the lead on (the DTD's optional <provider>); nil: none.
	Provider *Provider
}

// ID is an <id> with its source attribute.
type ID struct {
	Value, Source string
}

// Customer is the <customer>: a contact and comments.
type Customer struct {
	Contact  Contact
	Comments string // line breaks kept
}

// Contact is a <contact>. The DTD wants a name and an e-mail address or a phone
// number; a name is always written (empty when unknown), and so is a phone element when
// there is neither address nor number.
type Contact struct {
	Name   string // written as <name part="full">
	Email  string
	Phones []Phone
}

// Vendor is the <vendor>: the dealer, and a contact there.
type Vendor struct {
	Name    string
	Contact Contact
}

// Provider is the <provider>: the service that sent the lead on.
type Provider struct {
	Name    string
	Service string
	URL     string
	Email   string
}

// The DTD's enumerations of the attributes Write writes.
var (
	phoneTypes       = []string{"voice", "fax", "cellphone", "pager"}
	phoneTimes       = []string{"morning", "afternoon", "evening", "nopreference", "day"}
	vehicleInterests = []string{"buy", "lease", "sell", "trade-in", "test-drive"}
	vehicleStatuses  = []string{"new", "used"}
)

// Prolog is what Write writes before the <adf> element: the XML declaration and the ADF
// processing instruction the specification begins with.
const Prolog = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<?adf version="1.0"?>` + "\n"

// Write writes d as an ADF 1.0 document in UTF-8, indented, with every text and
// attribute escaped by encoding/xml. It fails when d has no prospect (the DTD wants one)
// or w fails.
func Write(w io.Writer, d Document) error {
	if len(d.Prospects) == 0 {
		return fmt.Errorf("write adf: %w", ErrNoProspect)
	}
	if _, err := io.WriteString(w, Prolog); err != nil {
		return fmt.Errorf("write adf: %w", err)
	}
	doc := xmlADF{}
	for _, e := range d.Prospects {
		doc.Prospects = append(doc.Prospects, e.xml())
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write adf: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write adf: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write adf: %w", err)
	}
	return nil
}

// The XML shapes, their fields in the order the DTD's content models want them.

type xmlADF struct {
	XMLName   xml.Name      `xml:"adf"`
	Prospects []xmlProspect `xml:"prospect"`
}

type xmlProspect struct {
	Status      string       `xml:"status,attr,omitempty"`
	IDs         []xmlID      `xml:"id"`
	RequestDate string       `xml:"requestdate"`
	Vehicles    []xmlVehicle `xml:"vehicle"`
	Customer    xmlCustomer  `xml:"customer"`
	Vendor      xmlVendor    `xml:"vendor"`
	Provider    *xmlProvider `xml:"provider"`
}

type xmlID struct {
	Sequence string `xml:"sequence,attr,omitempty"`
	Source   string `xml:"source,attr,omitempty"`
	Value    string `xml:",chardata"`
}

type xmlVehicle struct {
	Interest string `xml:"interest,attr,omitempty"`
	Status   string `xml:"status,attr,omitempty"`
	Year     string `xml:"year"`
	Make     string `xml:"make"`
	Model    string `xml:"model"`
	VIN      string `xml:"vin,omitempty"`
	Stock    string `xml:"stock,omitempty"`
	Trim     string `xml:"trim,omitempty"`
}

type xmlCustomer struct {
	Contact  xmlContact `xml:"contact"`
	Comments lines      `xml:"comments,omitempty"`
}

// lines is text whose line breaks are written as they are, not as &#xA; (everything
// else is escaped as any text is): comments stay readable in the mail's source.
type lines string

func (l lines) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeToken(xml.CharData(strings.ReplaceAll(string(l), "\r\n", "\n"))); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

type xmlContact struct {
	Name   xmlName    `xml:"name"`
	Email  string     `xml:"email,omitempty"`
	Phones []xmlPhone `xml:"phone"`
}

type xmlName struct {
	Part  string `xml:"part,attr"`
	Value string `xml:",chardata"`
}

type xmlPhone struct {
	Type      string `xml:"type,attr,omitempty"`
	Time      string `xml:"time,attr,omitempty"`
	Preferred string `xml:"preferredcontact,attr,omitempty"`
	Value     string `xml:",chardata"`
}

type xmlVendor struct {
	VendorName string     `xml:"vendorname"`
	Contact    xmlContact `xml:"contact"`
}

type xmlProvider struct {
	Name    xmlName `xml:"name"`
	Service string  `xml:"service,omitempty"`
	URL     string  `xml:"url,omitempty"`
	Email   string  `xml:"email,omitempty"`
}

func (e Entry) xml() xmlProspect {
	p := xmlProspect{Customer: xmlCustomer{Contact: e.Customer.Contact.xml(), Comments: lines(e.Customer.Comments)}}
	if e.Resend {
		p.Status = "resend"
	}
	seq := 0
	for _, id := range e.IDs {
		if strings.TrimSpace(id.Value) == "" {
			continue
		}
		seq++
		p.IDs = append(p.IDs, xmlID{Sequence: fmt.Sprint(seq), Source: id.Source, Value: id.Value})
	}
	if !e.RequestDate.IsZero() {
		p.RequestDate = e.RequestDate.Format(time.RFC3339)
	}
	for _, v := range e.Vehicles {
		p.Vehicles = append(p.Vehicles, xmlVehicle{
			Interest: enum(v.Interest, vehicleInterests), Status: enum(v.Status, vehicleStatuses),
			Year: v.Year, Make: v.Make, Model: v.Model, VIN: v.VIN, Stock: v.Stock, Trim: v.Trim,
		})
	}
	if len(p.Vehicles) == 0 {
		p.Vehicles = []xmlVehicle{{}}
	}
	p.Vendor = xmlVendor{VendorName: e.Vendor.Name, Contact: e.Vendor.Contact.xml()}
	if pr := e.Provider; pr != nil {
		p.Provider = &xmlProvider{Name: xmlName{Part: "full", Value: pr.Name}, Service: pr.Service, URL: pr.URL, Email: pr.Email}
	}
	return p
}

func (c Contact) xml() xmlContact {
	x := xmlContact{Name: xmlName{Part: "full", Value: c.Name}, Email: c.Email}
	for _, ph := range c.Phones {
		if strings.TrimSpace(ph.Number) == "" {
			continue
		}
		xp := xmlPhone{Type: enum(ph.Type, phoneTypes), Time: enum(ph.Time, phoneTimes), Value: ph.Number}
		if ph.Preferred {
			xp.Preferred = "1"
		}
		x.Phones = append(x.Phones, xp)
	}
	if x.Email == "" && len(x.Phones) == 0 {
		x.Phones = []xmlPhone{{}} // the DTD wants an address or a number: an empty one
	}
	return x
}

// enum returns v, lower-cased, when allowed lists it, else "" (the attribute is left
// out and the DTD's default applies).
func enum(v string, allowed []string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if slices.Contains(allowed, v) {
		return v
	}
	return ""
}
