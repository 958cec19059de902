package sip_test

import (
	"context"
	"crypto/tls"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/sip"
)

// TestRegisteredOverTLS: a softphone registers over TLS to Leadline's TLS listener
// (with a sips: Contact, allowed over TLS only) and is rung over the very connection it
// registered on: it listens nowhere else. The INVITE's Via and Contact name Leadline's
// TLS port, with transport=tls, and its Contact is sips: as the phone's is.
func TestRegisteredOverTLS(t *testing.T) {
	ca := testCA(t)
	cert, key, _, err := ca.Issue("leadline.test")
	if err != nil {
		t.Fatal(err)
	}
	u := newUA(t, sip.Config{TLS: sip.TLSConfig{Listen: "127.0.0.1:0", Cert: cert, Key: key}})
	reg := sip.NewRegistrar(u, sip.RegistrarConfig{Store: &memBindings{}, Node: "node-a"})
	t.Cleanup(reg.Close)
	reg.SetAccounts([]sip.Account{{User: "sanne", Password: sannePass, Dealer: "jansen", Person: "sanne"}})

	// The phone: a sipgo user agent that trusts the test CA, without a listener.
	pua, err := sipgo.NewUA(sipgo.WithUserAgent("tls-phone"), sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(pua)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var invites []*sipgosip.Request
	srv.OnInvite(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		mu.Lock()
		invites = append(invites, req.Clone())
		mu.Unlock()
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 486, "Busy Here", nil))
	})
	srv.OnAck(func(*sipgosip.Request, sipgosip.ServerTransaction) {})
	client, err := sipgo.NewClient(pua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pua.Close() })

	tlsAt := u.TLSAddr()
	aor := sipgosip.Uri{Scheme: "sip", User: "sanne", Host: tlsAt.Addr().String()}
	params := sipgosip.NewParams()
	params.Add("transport", "tls")
	req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: tlsAt.Addr().String(), Port: int(tlsAt.Port()), UriParams: params})
	req.SetTransport("TLS")
	from := &sipgosip.FromHeader{Address: aor, Params: sipgosip.NewParams()}
	from.Params.Add("tag", "reg1")
	req.AppendHeader(from)
	req.AppendHeader(&sipgosip.ToHeader{Address: aor})
	req.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sips", User: "sanne", Host: "127.0.0.1", Port: 5999}})
	req.AppendHeader(sipgosip.NewHeader("Expires", "300"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := client.Do(ctx, req)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("REGISTER: %v %v, want 401", res, err)
	}
	if res, err = client.DoDigestAuth(ctx, req.Clone(), res, sipgo.DigestAuth{Username: "sanne", Password: sannePass}); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER with credentials: %v %v", res, err)
	}

	devs, err := reg.Devices(ctx, "jansen", "sanne")
	if err != nil || len(devs) != 1 || !strings.HasPrefix(devs[0].Route, "tls:127.0.0.1:") || !strings.HasPrefix(devs[0].Target, "sips:") {
		t.Fatalf("Devices = %+v, %v; want one routed over tls", devs, err)
	}
	o := opts(dialer.LegAgent)
	o.Route = devs[0].Route
	if _, err := u.Dial(ctx, devs[0].Target, o); err == nil || !strings.Contains(err.Error(), "486") {
		t.Fatalf("Dial the device: %v, want its 486", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(invites) != 1 {
		t.Fatalf("the phone got %d INVITEs", len(invites))
	}
	inv := invites[0]
	port := int(tlsAt.Port())
	if via := inv.Via(); via == nil || via.Transport != "TLS" || via.Port != port {
		t.Errorf("Via %v, want TLS and our TLS port %d", via, port)
	}
	if ct := inv.Contact(); ct == nil || ct.Address.Scheme != "sips" || ct.Address.Port != port {
		t.Errorf("Contact %v, want sips: at our TLS port %d", ct, port)
	}
	if inv.Recipient.Scheme != "sips" {
		t.Errorf("Request-URI %s, want the phone's sips: Contact", inv.Recipient.String())
	}
}
