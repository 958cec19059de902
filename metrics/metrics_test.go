package metrics_test

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/metrics"
	"github.com/leadline/leadline/recording"
)

var _ recording.Observer = (*metrics.Metrics)(nil)

func newMetrics(t *testing.T) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	return metrics.New(reg), reg
}

// snapshot flattens every series in reg to "name{k="v",…}" → value. A histogram
// contributes its _count and _sum, which is enough to tell which series moved.
func snapshot(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + labelString(m.GetLabel())
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[mf.GetName()+"_count"+labelString(m.GetLabel())] = float64(m.GetHistogram().GetSampleCount())
				out[mf.GetName()+"_sum"+labelString(m.GetLabel())] = m.GetHistogram().GetSampleSum()
			default:
				t.Fatalf("%s: unexpected type %v", mf.GetName(), mf.GetType())
			}
		}
	}
	return out
}

func labelString(ls []*dto.LabelPair) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.GetName() + "=" + `"` + l.GetValue() + `"`
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// diff returns the series whose value differs between before and after, with the change.
func diff(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if delta := v - before[k]; delta != 0 || !hasKey(before, k) {
			d[k] = delta
		}
	}
	return d
}

func hasKey(m map[string]float64, k string) bool { _, ok := m[k]; return ok }

func TestMethodsMoveExactlyTheirSeries(t *testing.T) {
	tests := []struct {
		name string
		call func(m *metrics.Metrics)
		want map[string]float64 // series created or changed → change in value
	}{
		{
			name: "LeadReceived",
			call: func(m *metrics.Metrics) { m.LeadReceived("jansen") },
			want: map[string]float64{`leadline_leads_received_total{dealer="jansen"}`: 1},
		},
		{
			name: "LeadJoined",
			call: func(m *metrics.Metrics) { m.LeadJoined("jansen") },
			want: map[string]float64{`leadline_leads_joined_total{dealer="jansen"}`: 1},
		},
		{
			name: "LeadFinished bridged",
			call: func(m *metrics.Metrics) {
				m.LeadFinished("jansen", dialer.StatusCompleted, 7412*time.Millisecond)
			},
			want: map[string]float64{
				`leadline_leads_finished_total{dealer="jansen",status="completed"}`: 1,
				`leadline_speed_to_lead_seconds_count{dealer="jansen"}`:             1,
				`leadline_speed_to_lead_seconds_sum{dealer="jansen"}`:               7.412,
			},
		},
		{
			name: "LeadFinished never bridged",
			call: func(m *metrics.Metrics) { m.LeadFinished("jansen", dialer.StatusExhausted, 0) },
			want: map[string]float64{
				`leadline_leads_finished_total{dealer="jansen",status="exhausted"}`: 1,
			},
		},
		{
			name: "AgentAttempt answered",
			call: func(m *metrics.Metrics) {
				m.AgentAttempt("jansen", "piet", dialer.ResultAccepted, 3*time.Second)
			},
			want: map[string]float64{
				`leadline_agent_attempts_total{dealer="jansen",person="piet",result="accepted"}`: 1,
				`leadline_agent_answer_seconds_count{dealer="jansen"}`:                           1,
				`leadline_agent_answer_seconds_sum{dealer="jansen"}`:                             3,
				`leadline_agent_answered_total{dealer="jansen",person="piet"}`:                   1,
				`leadline_agent_answer_time_seconds_total{dealer="jansen",person="piet"}`:        3,
			},
		},
		{
			name: "AgentAttempt unanswered",
			call: func(m *metrics.Metrics) { m.AgentAttempt("jansen", "kees", dialer.ResultBusy, 0) },
			want: map[string]float64{
				`leadline_agent_attempts_total{dealer="jansen",person="kees",result="busy"}`: 1,
			},
		},
		{
			name: "CustomerAttempt",
			call: func(m *metrics.Metrics) { m.CustomerAttempt("jansen", dialer.ResultNoAnswer) },
			want: map[string]float64{`leadline_customer_attempts_total{dealer="jansen",result="no_answer"}`: 1},
		},
		{
			name: "DealerOpen",
			call: func(m *metrics.Metrics) {
				m.DealerOpen("jansen", true)
				m.DealerOpen("bakker", true)
				m.DealerOpen("bakker", false)
			},
			want: map[string]float64{`leadline_dealer_open{dealer="jansen"}`: 1, `leadline_dealer_open{dealer="bakker"}`: 0},
		},
		{
			name: "ReachedOwner",
			call: func(m *metrics.Metrics) { m.ReachedOwner("jansen") },
			want: map[string]float64{`leadline_leads_reached_owner_total{dealer="jansen"}`: 1},
		},
		{
			name: "CallStarted agent",
			call: func(m *metrics.Metrics) { m.CallStarted("agent") },
			want: map[string]float64{`leadline_calls_active{leg="agent"}`: 1},
		},
		{
			name: "CallStarted and CallEnded customer",
			call: func(m *metrics.Metrics) {
				m.CallStarted("customer")
				m.CallStarted("customer")
				m.CallEnded("customer")
			},
			want: map[string]float64{`leadline_calls_active{leg="customer"}`: 1},
		},
		{
			name: "BridgeStarted",
			call: func(m *metrics.Metrics) { m.BridgeStarted() },
			want: map[string]float64{`leadline_bridges_active{}`: 1},
		},
		{
			name: "BridgeEnded",
			call: func(m *metrics.Metrics) { m.BridgeStarted(); m.BridgeStarted(); m.BridgeEnded() },
			want: map[string]float64{`leadline_bridges_active{}`: 1},
		},
		{
			name: "SIPResponse",
			call: func(m *metrics.Metrics) { m.SIPResponse("INVITE", 486) },
			want: map[string]float64{`leadline_sip_responses_total{code="486",method="INVITE"}`: 1},
		},
		{
			name: "RTPPacket in",
			call: func(m *metrics.Metrics) { m.RTPPacket("in"); m.RTPPacket("in") },
			want: map[string]float64{`leadline_rtp_packets_total{direction="in"}`: 2},
		},
		{
			name: "RTPPacket out",
			call: func(m *metrics.Metrics) { m.RTPPacket("out") },
			want: map[string]float64{`leadline_rtp_packets_total{direction="out"}`: 1},
		},
		{
			name: "RTPPacket unknown direction counts nothing",
			call: func(m *metrics.Metrics) { m.RTPPacket("sideways") },
			want: map[string]float64{},
		},
		{
			name: "RTPDropped",
			call: func(m *metrics.Metrics) {
				m.RTPDropped("source")
				m.RTPDropped("source")
				m.RTPDropped("malformed")
				m.RTPDropped("payload_type")
				m.RTPDropped("auth")
			},
			want: map[string]float64{
				`leadline_rtp_dropped_total{reason="source"}`:       2,
				`leadline_rtp_dropped_total{reason="malformed"}`:    1,
				`leadline_rtp_dropped_total{reason="payload_type"}`: 1,
				`leadline_rtp_dropped_total{reason="auth"}`:         1,
			},
		},
		{
			name: "WebhookDelivery tried and not",
			call: func(m *metrics.Metrics) {
				m.WebhookDelivery("jansen", dialer.EventConnected, dialer.DeliveryFailed, 2*time.Second)
				m.WebhookDelivery("jansen", dialer.EventConnected, dialer.DeliveryDelivered, 500*time.Millisecond)
				m.WebhookDelivery("jansen", dialer.EventCompleted, dialer.DeliveryDisabled, 0)
			},
			want: map[string]float64{
				`leadline_webhook_deliveries_total{dealer="jansen",event="lead.connected",result="failed"}`:    1,
				`leadline_webhook_deliveries_total{dealer="jansen",event="lead.connected",result="delivered"}`: 1,
				`leadline_webhook_deliveries_total{dealer="jansen",event="lead.completed",result="disabled"}`:  1,
				`leadline_webhook_try_seconds_count{dealer="jansen"}`:                                          2,
				`leadline_webhook_try_seconds_sum{dealer="jansen"}`:                                            2.5,
			},
		},
		{
			name: "MailSent, with InitMail's zeros",
			call: func(m *metrics.Metrics) {
				m.InitMail("jansen", "crm")
				m.MailSent("jansen", "crm", "failed")
				m.MailSent("jansen", "crm", "sent")
				m.MailSent("jansen", "report", "sent")
			},
			want: map[string]float64{
				`leadline_mail_sent_total{dealer="jansen",kind="crm",result="sent"}`:    1,
				`leadline_mail_sent_total{dealer="jansen",kind="crm",result="failed"}`:  1,
				`leadline_mail_sent_total{dealer="jansen",kind="crm",result="gave_up"}`: 0,
				`leadline_mail_sent_total{dealer="jansen",kind="report",result="sent"}`: 1,
			},
		},
		{
			name: "RTPDropped unknown reason counts nothing",
			call: func(m *metrics.Metrics) { m.RTPDropped("boredom") },
			want: map[string]float64{},
		},
		{
			name: "IMAPConnected",
			call: func(m *metrics.Metrics) {
				m.IMAPConnected("jansen", false)
				m.IMAPConnected("jansen", true)
				m.IMAPConnected("bakker", false)
			},
			want: map[string]float64{`leadline_imap_connected{dealer="jansen"}`: 1, `leadline_imap_connected{dealer="bakker"}`: 0},
		},
		{
			name: "TrunkRegistered",
			call: func(m *metrics.Metrics) {
				m.TrunkRegistered("kpn", false)
				m.TrunkRegistered("kpn", true)
				m.TrunkRegistered("voys", false)
			},
			want: map[string]float64{`leadline_trunk_registered{trunk="kpn"}`: 1, `leadline_trunk_registered{trunk="voys"}`: 0},
		},
		{
			name: "IMAPRemoved",
			call: func(m *metrics.Metrics) {
				m.IMAPConnected("jansen", true)
				m.IMAPConnected("bakker", false)
				m.IMAPRemoved("bakker")
			},
			want: map[string]float64{`leadline_imap_connected{dealer="jansen"}`: 1},
		},
		{
			name: "Registrations",
			call: func(m *metrics.Metrics) {
				m.Registrations(map[string]int{"jansen": 1, "bakker": 3})
				m.Registrations(map[string]int{"jansen": 2})
			},
			want: map[string]float64{`leadline_registrations{dealer="jansen"}`: 2},
		},
		{
			name: "RegisterFailure",
			call: func(m *metrics.Metrics) {
				m.RegisterFailure("credentials")
				m.RegisterFailure("credentials")
				m.RegisterFailure("locked")
				m.RegisterFailure("bad_request")
				m.RegisterFailure("boredom")
			},
			want: map[string]float64{
				`leadline_register_failures_total{reason="credentials"}`: 2,
				`leadline_register_failures_total{reason="locked"}`:      1,
				`leadline_register_failures_total{reason="bad_request"}`: 1,
			},
		},
		{
			name: "RegisterLockout",
			call: func(m *metrics.Metrics) {
				m.RegisterLockout("user")
				m.RegisterLockout("source")
				m.RegisterLockout("moon")
			},
			want: map[string]float64{
				`leadline_register_lockouts_total{scope="user"}`:   1,
				`leadline_register_lockouts_total{scope="source"}`: 1,
			},
		},
		{
			name: "InitDealer creates series at zero",
			call: func(m *metrics.Metrics) { m.InitDealer("jansen") },
			want: map[string]float64{
				`leadline_leads_received_total{dealer="jansen"}`:                                0,
				`leadline_leads_joined_total{dealer="jansen"}`:                                  0,
				`leadline_leads_reached_owner_total{dealer="jansen"}`:                           0,
				`leadline_leads_finished_total{dealer="jansen",status="completed"}`:             0,
				`leadline_leads_finished_total{dealer="jansen",status="exhausted"}`:             0,
				`leadline_leads_finished_total{dealer="jansen",status="customer_unreachable"}`:  0,
				`leadline_leads_finished_total{dealer="jansen",status="canceled"}`:              0,
				`leadline_leads_finished_total{dealer="jansen",status="failed"}`:                0,
				`leadline_customer_attempts_total{dealer="jansen",result="answered"}`:           0,
				`leadline_customer_attempts_total{dealer="jansen",result="no_answer"}`:          0,
				`leadline_customer_attempts_total{dealer="jansen",result="busy"}`:               0,
				`leadline_customer_attempts_total{dealer="jansen",result="rejected"}`:           0,
				`leadline_customer_attempts_total{dealer="jansen",result="failed"}`:             0,
				`leadline_intake_total{channel="api",dealer="jansen",result="created"}`:         0,
				`leadline_intake_total{channel="api",dealer="jansen",result="rejected"}`:        0,
				`leadline_intake_total{channel="api",dealer="jansen",result="refused"}`:         0,
				`leadline_intake_total{channel="api",dealer="jansen",result="unavailable"}`:     0,
				`leadline_intake_total{channel="form",dealer="jansen",result="created"}`:        0,
				`leadline_intake_total{channel="form",dealer="jansen",result="rejected"}`:       0,
				`leadline_intake_total{channel="form",dealer="jansen",result="refused"}`:        0,
				`leadline_intake_total{channel="form",dealer="jansen",result="unavailable"}`:    0,
				`leadline_intake_total{channel="email",dealer="jansen",result="created"}`:       0,
				`leadline_intake_total{channel="email",dealer="jansen",result="rejected"}`:      0,
				`leadline_intake_total{channel="email",dealer="jansen",result="refused"}`:       0,
				`leadline_intake_total{channel="email",dealer="jansen",result="unavailable"}`:   0,
				`leadline_intake_total{channel="imap",dealer="jansen",result="created"}`:        0,
				`leadline_intake_total{channel="imap",dealer="jansen",result="rejected"}`:       0,
				`leadline_intake_total{channel="imap",dealer="jansen",result="refused"}`:        0,
				`leadline_intake_total{channel="imap",dealer="jansen",result="unavailable"}`:    0,
				`leadline_intake_total{channel="webhook",dealer="jansen",result="created"}`:     0,
				`leadline_intake_total{channel="webhook",dealer="jansen",result="rejected"}`:    0,
				`leadline_intake_total{channel="webhook",dealer="jansen",result="refused"}`:     0,
				`leadline_intake_total{channel="webhook",dealer="jansen",result="unavailable"}`: 0,
			},
		},
		{
			name: "InitPerson creates series at zero",
			call: func(m *metrics.Metrics) { m.InitPerson("jansen", "piet") },
			want: map[string]float64{
				`leadline_agent_attempts_total{dealer="jansen",person="piet",result="accepted"}`:  0,
				`leadline_agent_attempts_total{dealer="jansen",person="piet",result="declined"}`:  0,
				`leadline_agent_attempts_total{dealer="jansen",person="piet",result="no_accept"}`: 0,
				`leadline_agent_attempts_total{dealer="jansen",person="piet",result="no_answer"}`: 0,
				`leadline_agent_attempts_total{dealer="jansen",person="piet",result="busy"}`:      0,
				`leadline_agent_attempts_total{dealer="jansen",person="piet",result="rejected"}`:  0,
				`leadline_agent_attempts_total{dealer="jansen",person="piet",result="failed"}`:    0,
				`leadline_agent_attempts_total{dealer="jansen",person="piet",result="canceled"}`:  0,
				`leadline_agent_answered_total{dealer="jansen",person="piet"}`:                    0,
				`leadline_agent_answer_time_seconds_total{dealer="jansen",person="piet"}`:         0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newMetrics(t)
			before := snapshot(t, reg)
			tt.call(m)
			got := diff(before, snapshot(t, reg))
			if !maps.Equal(got, tt.want) {
				t.Errorf("moved series:\n%s\nwant:\n%s", format(got), format(tt.want))
			}
		})
	}
}

func format(m map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "  %s %g\n", k, m[k])
	}
	return b.String()
}

// TestInitialExposition fixes the names, types, help texts and pre-initialised series a
// fresh process exposes; SPEC.md's table is the contract.
func TestInitialExposition(t *testing.T) {
	_, reg := newMetrics(t)
	const want = `
# HELP leadline_bridges_active Salesperson-customer bridges carrying media now.
# TYPE leadline_bridges_active gauge
leadline_bridges_active 0
# HELP leadline_calls_active Call legs in progress (ringing or answered), by leg: agent or customer.
# TYPE leadline_calls_active gauge
leadline_calls_active{leg="agent"} 0
leadline_calls_active{leg="customer"} 0
# HELP leadline_recording_bytes_total Bytes of the WAV files of the call recordings counted by leadline_recordings_written_total.
# TYPE leadline_recording_bytes_total counter
leadline_recording_bytes_total 0
# HELP leadline_recording_failures_total Call recordings that could not be made, finished, kept or deleted, by stage: start (the file or its row could not be created: the call goes unrecorded), write (a write failed: the rest of the call is not recorded), finish (the file could not be closed or noted), store (the store refused the finished file), upload (an upload to object storage failed; tried again later), repair (a file a crash interrupted could not be repaired), delete (an erasure or expiry could not delete the file).
# TYPE leadline_recording_failures_total counter
leadline_recording_failures_total{stage="delete"} 0
leadline_recording_failures_total{stage="finish"} 0
leadline_recording_failures_total{stage="repair"} 0
leadline_recording_failures_total{stage="start"} 0
leadline_recording_failures_total{stage="store"} 0
leadline_recording_failures_total{stage="upload"} 0
leadline_recording_failures_total{stage="write"} 0
# HELP leadline_recordings_deleted_total Call recordings deleted, by reason: retention (the dealer's recording.retention ran out) or erasure (DELETE /v1/leads/{id}/recording).
# TYPE leadline_recordings_deleted_total counter
leadline_recordings_deleted_total{reason="erasure"} 0
leadline_recordings_deleted_total{reason="retention"} 0
# HELP leadline_recordings_written_total Call recordings finished and kept (including those a crash interrupted, finished at the next start).
# TYPE leadline_recordings_written_total counter
leadline_recordings_written_total 0
# HELP leadline_register_failures_total REGISTERs refused, by reason: credentials (an unknown user or a wrong password, not told apart), locked (refused unchecked during a lockout), bad_request (malformed credentials, a foreign or replayed nonce).
# TYPE leadline_register_failures_total counter
leadline_register_failures_total{reason="bad_request"} 0
leadline_register_failures_total{reason="credentials"} 0
leadline_register_failures_total{reason="locked"} 0
# HELP leadline_register_lockouts_total Registrar lockouts begun after repeated bad passwords, by scope: user (one user name) or source (one address).
# TYPE leadline_register_lockouts_total counter
leadline_register_lockouts_total{scope="source"} 0
leadline_register_lockouts_total{scope="user"} 0
# HELP leadline_rtp_dropped_total RTP datagrams received on a leg's port and ignored, by reason: source (not from the far end's address), malformed (not RTP), payload_type (from the far end, in a format not negotiated), auth (SRTP that failed authentication or replay protection).
# TYPE leadline_rtp_dropped_total counter
leadline_rtp_dropped_total{reason="auth"} 0
leadline_rtp_dropped_total{reason="malformed"} 0
leadline_rtp_dropped_total{reason="payload_type"} 0
leadline_rtp_dropped_total{reason="source"} 0
# HELP leadline_rtp_packets_total RTP packets received (in) and sent (out) on all legs.
# TYPE leadline_rtp_packets_total counter
leadline_rtp_packets_total{direction="in"} 0
leadline_rtp_packets_total{direction="out"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestNamesTypesLabels checks SPEC.md's table once every series exists.
func TestNamesTypesLabels(t *testing.T) {
	m, reg := newMetrics(t)
	exerciseAll(m)
	want := map[string]struct {
		typ    dto.MetricType
		labels []string
	}{
		"leadline_leads_received_total":            {dto.MetricType_COUNTER, []string{"dealer"}},
		"leadline_leads_joined_total":              {dto.MetricType_COUNTER, []string{"dealer"}},
		"leadline_leads_finished_total":            {dto.MetricType_COUNTER, []string{"dealer", "status"}},
		"leadline_speed_to_lead_seconds":           {dto.MetricType_HISTOGRAM, []string{"dealer"}},
		"leadline_agent_attempts_total":            {dto.MetricType_COUNTER, []string{"dealer", "person", "result"}},
		"leadline_agent_answer_seconds":            {dto.MetricType_HISTOGRAM, []string{"dealer"}},
		"leadline_agent_answered_total":            {dto.MetricType_COUNTER, []string{"dealer", "person"}},
		"leadline_agent_answer_time_seconds_total": {dto.MetricType_COUNTER, []string{"dealer", "person"}},
		"leadline_dealer_open":                     {dto.MetricType_GAUGE, []string{"dealer"}},
		"leadline_customer_attempts_total":         {dto.MetricType_COUNTER, []string{"dealer", "result"}},
		"leadline_leads_reached_owner_total":       {dto.MetricType_COUNTER, []string{"dealer"}},
		"leadline_calls_active":                    {dto.MetricType_GAUGE, []string{"leg"}},
		"leadline_bridges_active":                  {dto.MetricType_GAUGE, nil},
		"leadline_sip_responses_total":             {dto.MetricType_COUNTER, []string{"code", "method"}},
		"leadline_rtp_packets_total":               {dto.MetricType_COUNTER, []string{"direction"}},
		"leadline_intake_total":                    {dto.MetricType_COUNTER, []string{"channel", "dealer", "result"}},
		"leadline_intake_to_invite_seconds":        {dto.MetricType_HISTOGRAM, []string{"channel"}},
		"leadline_call_outcomes_total":             {dto.MetricType_COUNTER, []string{"dealer", "outcome", "person"}},
		"leadline_rtp_dropped_total":               {dto.MetricType_COUNTER, []string{"reason"}},
		"leadline_imap_connected":                  {dto.MetricType_GAUGE, []string{"dealer"}},
		"leadline_trunk_registered":                {dto.MetricType_GAUGE, []string{"trunk"}},
		"leadline_registrations":                   {dto.MetricType_GAUGE, []string{"dealer"}},
		"leadline_register_failures_total":         {dto.MetricType_COUNTER, []string{"reason"}},
		"leadline_register_lockouts_total":         {dto.MetricType_COUNTER, []string{"scope"}},
		"leadline_webhook_deliveries_total":        {dto.MetricType_COUNTER, []string{"dealer", "event", "result"}},
		"leadline_webhook_try_seconds":             {dto.MetricType_HISTOGRAM, []string{"dealer"}},
		"leadline_mail_sent_total":                 {dto.MetricType_COUNTER, []string{"dealer", "kind", "result"}},
		"leadline_recordings_written_total":        {dto.MetricType_COUNTER, nil},
		"leadline_recording_bytes_total":           {dto.MetricType_COUNTER, nil},
		"leadline_recording_failures_total":        {dto.MetricType_COUNTER, []string{"stage"}},
		"leadline_recordings_deleted_total":        {dto.MetricType_COUNTER, []string{"reason"}},
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		w, ok := want[mf.GetName()]
		if !ok {
			t.Errorf("unexpected metric %s", mf.GetName())
			continue
		}
		seen[mf.GetName()] = true
		if mf.GetType() != w.typ {
			t.Errorf("%s: type %v, want %v", mf.GetName(), mf.GetType(), w.typ)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: no help text", mf.GetName())
		}
		for _, s := range mf.GetMetric() {
			var got []string
			for _, l := range s.GetLabel() {
				got = append(got, l.GetName())
			}
			if !slices.Equal(got, w.labels) {
				t.Errorf("%s: labels %v, want %v", mf.GetName(), got, w.labels)
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("metric %s not exposed", name)
		}
	}
}

func TestBuckets(t *testing.T) {
	m, reg := newMetrics(t)
	m.LeadFinished("jansen", dialer.StatusCompleted, time.Second)
	m.AgentAttempt("jansen", "piet", dialer.ResultAccepted, time.Second)
	m.WebhookDelivery("jansen", dialer.EventReceived, dialer.DeliveryDelivered, time.Second)
	want := map[string][2]float64{ // first and last upper bound
		"leadline_speed_to_lead_seconds": {1, 3600},
		"leadline_agent_answer_seconds":  {0.5, 60},
		"leadline_webhook_try_seconds":   {0.005, 60},
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		w, ok := want[mf.GetName()]
		if !ok {
			continue
		}
		b := mf.GetMetric()[0].GetHistogram().GetBucket()
		if first, last := b[0].GetUpperBound(), b[len(b)-1].GetUpperBound(); first != w[0] || last != w[1] {
			t.Errorf("%s: buckets %v … %v, want %v … %v", mf.GetName(), first, last, w[0], w[1])
		}
		delete(want, mf.GetName())
	}
	if len(want) > 0 {
		t.Errorf("histograms not found: %v", want)
	}
}

func TestLint(t *testing.T) {
	m, reg := newMetrics(t)
	exerciseAll(m)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestNewTwicePanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	defer func() {
		if recover() == nil {
			t.Error("second New on one registry did not panic")
		}
	}()
	metrics.New(reg)
}

func TestHandler(t *testing.T) {
	m, reg := newMetrics(t)
	m.LeadReceived("jansen")
	srv := httptest.NewServer(metrics.Handler(reg))
	t.Cleanup(srv.Close)

	tests := []struct {
		name, accept, wantType string
	}{
		{"text", "", "text/plain"},
		{"openmetrics", "application/openmetrics-text;version=1.0.0", "application/openmetrics-text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type %q, want %s…", ct, tt.wantType)
			}
			if !strings.Contains(string(body), `leadline_leads_received_total{dealer="jansen"} 1`) {
				t.Errorf("body lacks the received counter:\n%s", body)
			}
		})
	}
}

func TestRTPPacketDoesNotAllocate(t *testing.T) {
	m, _ := newMetrics(t)
	if n := testing.AllocsPerRun(1000, func() { m.RTPPacket("in"); m.RTPPacket("out") }); n != 0 {
		t.Errorf("RTPPacket allocates %v times per call pair", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		m.RTPDropped("source")
		m.RTPDropped("malformed")
		m.RTPDropped("payload_type")
		m.RTPDropped("auth")
	}); n != 0 {
		t.Errorf("RTPDropped allocates %v times per four calls", n)
	}
}

func BenchmarkRTPPacket(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.RTPPacket("in")
	}
}

func BenchmarkRTPPacketParallel(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.RTPPacket("out")
		}
	})
}

// exercises calls each method of Metrics once, by name. TestExercisesCoverEveryMethod
// fails until a new method is added here; the dashboard and alert tests only accept
// metrics that these calls make appear.
var exercises = map[string]func(m *metrics.Metrics){
	"RecordingWritten": func(m *metrics.Metrics) { m.RecordingWritten(96044) },
	"RecordingFailed":  func(m *metrics.Metrics) { m.RecordingFailed("write") },
	"RecordingDeleted": func(m *metrics.Metrics) { m.RecordingDeleted(dialer.DeletedRetention) },
	"InitDealer":       func(m *metrics.Metrics) { m.InitDealer("jansen") },
	"InitPerson":       func(m *metrics.Metrics) { m.InitPerson("jansen", "piet") },
	"LeadReceived":     func(m *metrics.Metrics) { m.LeadReceived("jansen") },
	"LeadJoined":       func(m *metrics.Metrics) { m.LeadJoined("jansen") },
	"LeadFinished":     func(m *metrics.Metrics) { m.LeadFinished("jansen", dialer.StatusCompleted, 7*time.Second) },
	"AgentAttempt":     func(m *metrics.Metrics) { m.AgentAttempt("jansen", "piet", dialer.ResultAccepted, 2*time.Second) },
	"CustomerAttempt":  func(m *metrics.Metrics) { m.CustomerAttempt("jansen", dialer.ResultAnswered) },
	"ReachedOwner":     func(m *metrics.Metrics) { m.ReachedOwner("jansen") },
	"DealerOpen":       func(m *metrics.Metrics) { m.DealerOpen("jansen", true) },
	"CallStarted":      func(m *metrics.Metrics) { m.CallStarted("agent") },
	"CallEnded":        func(m *metrics.Metrics) { m.CallEnded("customer") },
	"BridgeStarted":    func(m *metrics.Metrics) { m.BridgeStarted() },
	"BridgeEnded":      func(m *metrics.Metrics) { m.BridgeEnded() },
	"SIPResponse":      func(m *metrics.Metrics) { m.SIPResponse("INVITE", 200) },
	"RTPPacket":        func(m *metrics.Metrics) { m.RTPPacket("in"); m.RTPPacket("out") },
	"Intake": func(m *metrics.Metrics) {
		// Every result, so that the dashboard and the alert rules may name any of them.
		for _, r := range []dialer.IntakeResult{dialer.IntakeCreated, dialer.IntakeRepeat, dialer.IntakeJoined, dialer.IntakeInvalid,
			dialer.IntakeLimited, dialer.IntakeUnavailable, dialer.IntakeRejected, dialer.IntakeRefused} {
			m.Intake("jansen", dialer.ChannelEmail, r)
		}
	},
	"FirstInvite":     func(m *metrics.Metrics) { m.FirstInvite("jansen", dialer.ChannelEmail, 12*time.Millisecond) },
	"CallOutcome":     func(m *metrics.Metrics) { m.CallOutcome("jansen", "piet", "appointment") },
	"RTPDropped":      func(m *metrics.Metrics) { m.RTPDropped("source") },
	"IMAPConnected":   func(m *metrics.Metrics) { m.IMAPConnected("jansen", true) },
	"IMAPRemoved":     func(m *metrics.Metrics) { m.IMAPConnected("bakker", false); m.IMAPRemoved("bakker") },
	"TrunkRegistered": func(m *metrics.Metrics) { m.TrunkRegistered("kpn", true) },
	"Registrations":   func(m *metrics.Metrics) { m.Registrations(map[string]int{"jansen": 2}) },
	"RegisterFailure": func(m *metrics.Metrics) { m.RegisterFailure("credentials") },
	"RegisterLockout": func(m *metrics.Metrics) { m.RegisterLockout("user") },
	"InitMail": func(m *metrics.Metrics) {
		for _, kind := range []string{"crm", "report"} {
			m.InitMail("jansen", kind)
		}
	},
	"MailSent": func(m *metrics.Metrics) {
		m.MailSent("jansen", "crm", "sent")
		m.MailSent("jansen", "report", "failed")
	},
	"WebhookDelivery": func(m *metrics.Metrics) {
		m.WebhookDelivery("jansen", dialer.EventConnected, dialer.DeliveryDelivered, 120*time.Millisecond)
		m.WebhookDelivery("jansen", dialer.EventConnected, dialer.DeliveryFailed, 10*time.Second)
		m.WebhookDelivery("jansen", dialer.EventExhausted, dialer.DeliveryGaveUp, time.Second)
		m.WebhookDelivery("jansen", dialer.EventExhausted, dialer.DeliveryDisabled, 0)
	},
}

// exerciseAll calls every method of Metrics once, so that every metric family exposes
// at least one series.
func exerciseAll(m *metrics.Metrics) {
	for _, name := range slices.Sorted(maps.Keys(exercises)) {
		exercises[name](m)
	}
}

func TestExercisesCoverEveryMethod(t *testing.T) {
	typ := reflect.TypeFor[*metrics.Metrics]()
	methods := map[string]bool{}
	for i := range typ.NumMethod() {
		methods[typ.Method(i).Name] = true
	}
	for name := range methods {
		if exercises[name] == nil {
			t.Errorf("exercises has no call of Metrics.%s: add one", name)
		}
	}
	for name := range exercises {
		if !methods[name] {
			t.Errorf("exercises calls %s, which Metrics does not have", name)
		}
	}
}
