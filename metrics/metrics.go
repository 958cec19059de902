package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/leadline/leadline/dialer"
)

const namespace = "leadline"

// Direction label values of leadline_rtp_packets_total, as RTPPacket takes them.
const (
	directionIn  = "in"
	directionOut = "out"
)

// Reason label values of leadline_rtp_dropped_total, as RTPDropped takes them (the sip
// package's dropSource, dropMalformed, dropPayloadType and dropAuth).
const (
	reasonSource      = "source"
	reasonMalformed   = "malformed"
	reasonPayloadType = "payload_type"
	reasonAuth        = "auth"
)

// Metrics records Leadline's events as Prometheus series. Its methods are safe for
// concurrent use and never block.
type Metrics struct {
	leadsReceived *prometheus.CounterVec   // dealer
	leadsJoined   *prometheus.CounterVec   // dealer
	leadsFinished *prometheus.CounterVec   // dealer, status
	speedToLead   *prometheus.HistogramVec // dealer
	agentAttempts *prometheus.CounterVec   // dealer, person, result
	agentAnswer   *prometheus.HistogramVec // dealer
	agentAnswered *prometheus.CounterVec   // dealer, person
	agentAnswerS  *prometheus.CounterVec   // dealer, person: seconds, summed
	customerTries *prometheus.CounterVec   // dealer, result
	dealerOpen    *prometheus.GaugeVec     // dealer
	reachedOwner  *prometheus.CounterVec   // dealer
	callsActive   *prometheus.GaugeVec     // leg
	bridgesActive prometheus.Gauge
	sipResponses  *prometheus.CounterVec   // method, code
	intake        *prometheus.CounterVec   // dealer, channel, result
	firstInvite   *prometheus.HistogramVec // channel
	callOutcomes  *prometheus.CounterVec   // dealer, person, outcome
	imapConnected *prometheus.GaugeVec     // dealer
	// trunkRegistered is leadline_trunk_registered{trunk} (trunks.go).
	trunkRegistered *prometheus.GaugeVec
	webhooks        *prometheus.CounterVec   // dealer, event, result
	webhookTry      *prometheus.HistogramVec // dealer
	mailSent        *prometheus.CounterVec   // dealer, kind, result

	// rtpIn and rtpOut are leadline_rtp_packets_total{direction="in"|"out"}, resolved once
	// so that RTPPacket, called per packet, neither looks up labels nor allocates.
	rtpIn, rtpOut prometheus.Counter
	// rtpDropped are leadline_rtp_dropped_total{reason=…}, resolved once for the same
	// reason: RTPDropped is called per packet, and a flood is when it is called most.
	rtpDropSource, rtpDropMalformed, rtpDropPayloadType, rtpDropAuth prometheus.Counter

	*registrarMetrics // softphones' registrations (registrar.go)
	*recordingMetrics // call recordings (recording.go)
}

var _ dialer.Recorder = (*Metrics)(nil)

// agentResults and customerResults are the results a leg of each kind can end in;
// InitPerson and InitDealer create their series.
var (
	agentResults = []dialer.Result{
		dialer.ResultAccepted, dialer.ResultDeclined, dialer.ResultNoAccept, dialer.ResultNoAnswer,
		dialer.ResultBusy, dialer.ResultRejected, dialer.ResultFailed, dialer.ResultCanceled,
	}
	customerResults = []dialer.Result{
		dialer.ResultAnswered, dialer.ResultNoAnswer, dialer.ResultBusy, dialer.ResultRejected, dialer.ResultFailed,
	}
)

// New creates Leadline's metrics and registers them with reg. It panics when one of them
// is already registered there, as prometheus.MustRegister does: calling New twice on one
// registry is a wiring bug.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		leadsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "leads_received_total",
			Help:      "Leads accepted through the API and stored, by dealer. Repeats (same Idempotency-Key or external_id) and leads that joined an open lead are not counted.",
		}, []string{"dealer"}),
		leadsJoined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "leads_joined_total",
			Help:      "Leads for a number with an open lead at the same dealer (within its duplicate_window) that joined that lead instead of starting a call, by dealer.",
		}, []string{"dealer"}),
		leadsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "leads_finished_total",
			Help:      "Leads that reached a final status, by dealer and that status.",
		}, []string{"dealer", "status"}),
		speedToLead: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "speed_to_lead_seconds",
			Help:      "Time from a lead's arrival to its customer being bridged to a salesperson, by dealer. Leads never bridged are not observed.",
			// 1 s to 1 h. The interesting range is the first two minutes (a flow that rings a
			// few people for 20 s each), so it is dense there; the tail catches leads that
			// waited for opening hours.
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600},
		}, []string{"dealer"}),
		agentAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "agent_attempts_total",
			Help:      "Finished calls to salespeople, by dealer, person and result (accepted, declined, no_accept, no_answer, busy, rejected, failed, canceled).",
		}, []string{"dealer", "person", "result"}),
		agentAnswer: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "agent_answer_seconds",
			Help:      "Time from INVITE to a salesperson answering, by dealer. Unanswered calls are not observed.",
			// 0.5 s to 60 s: a phone rings within a second or two and ring timeouts are
			// typically 15-30 s; 60 s covers the longest sane ring timeout.
			Buckets: []float64{0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 25, 30, 45, 60},
		}, []string{"dealer"}),
		// The per-person pair below gives each salesperson's mean answer time
		// (rate of seconds / rate of answered) for two series per person, where a
		// per-person histogram would cost sixteen.
		agentAnswered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "agent_answered_total",
			Help:      "Calls to salespeople that they answered (whatever happened next), by dealer and person.",
		}, []string{"dealer", "person"}),
		agentAnswerS: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "agent_answer_time_seconds_total",
			Help:      "Sum of the times from INVITE to answer of answered calls to salespeople, by dealer and person; divide by leadline_agent_answered_total for the mean.",
		}, []string{"dealer", "person"}),
		customerTries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "customer_attempts_total",
			Help:      "Finished calls to customers, by dealer and result (answered, no_answer, busy, rejected, failed).",
		}, []string{"dealer", "result"}),
		dealerOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "dealer_open",
			Help:      "1 while the dealer is within its opening hours (always, for a dealer without hours), 0 outside them.",
		}, []string{"dealer"}),
		reachedOwner: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "leads_reached_owner_total",
			Help:      "Leads whose flow reached its last step, the owner, because nobody before accepted, by dealer.",
		}, []string{"dealer"}),
		callsActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "calls_active",
			Help:      "Call legs in progress (ringing or answered), by leg: agent or customer.",
		}, []string{"leg"}),
		bridgesActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "bridges_active",
			Help:      "Salesperson-customer bridges carrying media now.",
		}),
		sipResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "sip_responses_total",
			Help:      "SIP responses received to our requests, by request method and status code.",
		}, []string{"method", "code"}),
		intake: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "intake_total",
			Help: "Leads and messages that arrived, by dealer, channel (api, form, email, imap, webhook) and result: created, repeat, joined, " +
				"invalid, limited (the number's daily cap), unavailable (store down: not kept, the sender retries), rejected (a message with no callable lead, kept with its reason), " +
				"refused (at the door: sender not allowed, too big, too many).",
		}, []string{"dealer", "channel", "result"}),
		callOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "call_outcomes_total",
			Help:      "Outcomes salespeople gave after a call the customer ended (the keys of the dealer's outcomes: appointment, follow_up, not_interested…), by dealer, person and outcome.",
		}, []string{"dealer", "person", "outcome"}),
		firstInvite: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "intake_to_invite_seconds",
			Help:      "Time from a lead's arrival (request received, end of an e-mail's DATA, arrival in a mailbox) to its first salesperson's INVITE, by channel; leads dialled as they arrive.",
			// 1 ms to 10 s: an API post or an e-mail should ring within tens of
			// milliseconds; IMAP and a busy store take longer.
			Buckets: []float64{.001, .002, .005, .01, .015, .02, .03, .05, .1, .2, .5, 1, 2, 5, 10},
		}, []string{"channel"}),
		imapConnected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "imap_connected",
			Help:      "1 while Leadline is logged in to the dealer's IMAP mailbox (email.imap) with its folder selected, 0 while it cannot read it and retries. Only dealers with a mailbox.",
		}, []string{"dealer"}),
		trunkRegistered: newTrunkRegistered(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "webhook_deliveries_total",
			Help: "Webhook tries, and deliveries ended without a try, by dealer, event type and result: delivered (2xx), " +
				"failed (the try failed; tried again later), gave_up (the last try failed, or the endpoint was removed), " +
				"disabled (410 Gone, or the endpoint was disabled by one).",
		}, []string{"dealer", "event", "result"}),
		webhookTry: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "webhook_try_seconds",
			Help:      "Time of one webhook try, from connecting to the answer (or the timeout), by dealer.",
			// 5 ms to 1 min: a CRM on the same continent answers in tens to hundreds of
			// milliseconds; the top buckets catch the per-try timeout (10 s by default,
			// at most 1 min).
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"dealer"}),
		mailSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "mail_sent_total",
			Help: "Mails Leadline sent through email.relay, by dealer, kind (crm: the lead's result as ADF to dealers[].crm_email; " +
				"report: the owner's weekly report) and result: sent (the relay took it), failed (the try failed; tried again later), " +
				"gave_up (the last try failed).",
		}, []string{"dealer", "kind", "result"}),
	}
	rtpPackets := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "rtp_packets_total",
		Help:      "RTP packets received (in) and sent (out) on all legs.",
	}, []string{"direction"})
	rtpDropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "rtp_dropped_total",
		Help:      "RTP datagrams received on a leg's port and ignored, by reason: source (not from the far end's address), malformed (not RTP), payload_type (from the far end, in a format not negotiated), auth (SRTP that failed authentication or replay protection).",
	}, []string{"reason"})

	reg.MustRegister(
		m.leadsReceived, m.leadsJoined, m.leadsFinished, m.speedToLead,
		m.agentAttempts, m.agentAnswer, m.agentAnswered, m.agentAnswerS, m.customerTries, m.dealerOpen, m.reachedOwner,
		m.callsActive, m.bridgesActive, m.sipResponses, rtpPackets, rtpDropped, m.intake, m.firstInvite, m.callOutcomes,
		m.imapConnected, m.trunkRegistered, m.webhooks, m.webhookTry, m.mailSent,
	)

	// Series known at start exist at 0 from the first scrape, so that dashboards show a
	// flat line rather than "no data" and rate() sees the first increment.
	m.callsActive.WithLabelValues(string(dialer.LegAgent))
	m.callsActive.WithLabelValues(string(dialer.LegCustomer))
	m.rtpIn = rtpPackets.WithLabelValues(directionIn)
	m.rtpOut = rtpPackets.WithLabelValues(directionOut)
	m.rtpDropSource = rtpDropped.WithLabelValues(reasonSource)
	m.rtpDropMalformed = rtpDropped.WithLabelValues(reasonMalformed)
	m.rtpDropPayloadType = rtpDropped.WithLabelValues(reasonPayloadType)
	m.rtpDropAuth = rtpDropped.WithLabelValues(reasonAuth)
	m.registrarMetrics = newRegistrarMetrics(reg)
	m.recordingMetrics = newRecordingMetrics(reg)
	return m
}

// InitDealer creates a configured dealer's per-dealer series at 0 (received, joined,
// reached owner, finished by each final status, customer calls by each result), so that
// they are visible before its first lead. The wiring calls it for each dealer at start and on
// reload; calling it again is harmless.
func (m *Metrics) InitDealer(dealer string) {
	m.leadsReceived.WithLabelValues(dealer)
	m.leadsJoined.WithLabelValues(dealer)
	m.reachedOwner.WithLabelValues(dealer)
	for _, s := range dialer.FinalStatuses { // the statuses a lead can finish in
		m.leadsFinished.WithLabelValues(dealer, string(s))
	}
	for _, r := range customerResults {
		m.customerTries.WithLabelValues(dealer, string(r))
	}
	// The intake outcomes the alerts watch, for the channels every dealer has.
	for _, ch := range []dialer.Channel{dialer.ChannelAPI, dialer.ChannelForm, dialer.ChannelEmail, dialer.ChannelIMAP, dialer.ChannelWebhook} {
		for _, r := range []dialer.IntakeResult{dialer.IntakeCreated, dialer.IntakeRejected, dialer.IntakeRefused, dialer.IntakeUnavailable} {
			m.intake.WithLabelValues(dealer, string(ch), string(r))
		}
	}
}

// Mail kinds and results (leadline_mail_sent_total's labels).
var (
	mailResults = []string{"sent", "failed", "gave_up"}
)

// InitMail creates a dealer's series of mail of kind (crm, report) at 0 for every
// result, so that increase() sees the first mail and the alert on failing mail its first
// failure. The wiring calls it for each dealer that has the kind of mail, at start and on
// reload; calling it again is harmless.
func (m *Metrics) InitMail(dealer, kind string) {
	for _, r := range mailResults {
		m.mailSent.WithLabelValues(dealer, kind, r)
	}
}

// MailSent counts a mail of kind (crm, report) sent to the relay, or a try that failed
// (tried again later), or one given up.
func (m *Metrics) MailSent(dealer, kind, result string) {
	m.mailSent.WithLabelValues(dealer, kind, result).Inc()
}

// InitPerson creates a configured salesperson's series at 0 (calls by each result,
// answered calls and their answer time), so that the dashboard's per-salesperson table
// lists everyone, including those not rung yet, and increase() sees their first call.
// The wiring calls it for each person of each dealer at start and on reload; calling it
// again is harmless. A person removed from the configuration keeps their series until
// the process restarts.
func (m *Metrics) InitPerson(dealer, person string) {
	for _, r := range agentResults {
		m.agentAttempts.WithLabelValues(dealer, person, string(r))
	}
	m.agentAnswered.WithLabelValues(dealer, person)
	m.agentAnswerS.WithLabelValues(dealer, person)
}

// LeadReceived counts a newly stored lead.
func (m *Metrics) LeadReceived(dealer string) {
	m.leadsReceived.WithLabelValues(dealer).Inc()
}

// LeadJoined counts a lead that joined an open lead for the same number instead of
// being stored.
func (m *Metrics) LeadJoined(dealer string) {
	m.leadsJoined.WithLabelValues(dealer).Inc()
}

// LeadFinished counts a lead reaching final status s and, when its customer was bridged
// (speed > 0), observes its speed to lead.
func (m *Metrics) LeadFinished(dealer string, s dialer.Status, speed time.Duration) {
	m.leadsFinished.WithLabelValues(dealer, string(s)).Inc()
	if speed > 0 {
		m.speedToLead.WithLabelValues(dealer).Observe(speed.Seconds())
	}
}

// AgentAttempt counts a finished call to a salesperson and, when it was answered
// (answer > 0), observes the time it took to answer, per dealer in the histogram and per
// person in the answered and answer-time counters.
func (m *Metrics) AgentAttempt(dealer, person string, r dialer.Result, answer time.Duration) {
	m.agentAttempts.WithLabelValues(dealer, person, string(r)).Inc()
	if answer > 0 {
		m.agentAnswer.WithLabelValues(dealer).Observe(answer.Seconds())
		m.agentAnswered.WithLabelValues(dealer, person).Inc()
		m.agentAnswerS.WithLabelValues(dealer, person).Add(answer.Seconds())
	}
}

// CustomerAttempt counts a finished call to a lead's customer by its result (answered,
// no_answer, busy, rejected, failed).
func (m *Metrics) CustomerAttempt(dealer string, r dialer.Result) {
	m.customerTries.WithLabelValues(dealer, string(r)).Inc()
}

// DealerOpen sets whether the dealer is within its opening hours now. The wiring calls it
// for each dealer at start and then about once a minute, so that alert rules can ask
// "during opening hours" in the dealer's own time zone.
func (m *Metrics) DealerOpen(dealer string, open bool) {
	v := 0.0
	if open {
		v = 1
	}
	m.dealerOpen.WithLabelValues(dealer).Set(v)
}

// ReachedOwner counts a lead whose flow reached its last step.
func (m *Metrics) ReachedOwner(dealer string) {
	m.reachedOwner.WithLabelValues(dealer).Inc()
}

// CallStarted counts a call leg as in progress; leg is "agent" or "customer". Every
// CallStarted must be matched by one CallEnded with the same leg.
func (m *Metrics) CallStarted(leg string) {
	m.callsActive.WithLabelValues(leg).Inc()
}

// CallEnded counts a call leg started with CallStarted as no longer in progress.
func (m *Metrics) CallEnded(leg string) {
	m.callsActive.WithLabelValues(leg).Dec()
}

// Intake counts a lead or message that arrived for dealer by channel, with what became
// of it.
func (m *Metrics) Intake(dealer string, ch dialer.Channel, r dialer.IntakeResult) {
	m.intake.WithLabelValues(dealer, string(ch), string(r)).Inc()
}

// WebhookDelivery counts a webhook try, or a delivery ended without one, by what became
// of the delivery (delivered, failed, gave_up, disabled), and observes the try's time
// when there was a try (took > 0).
func (m *Metrics) WebhookDelivery(dealer string, event dialer.EventType, result dialer.DeliveryState, took time.Duration) {
	m.webhooks.WithLabelValues(dealer, string(event), string(result)).Inc()
	if took > 0 {
		m.webhookTry.WithLabelValues(dealer).Observe(took.Seconds())
	}
}

// CallOutcome counts an outcome a salesperson gave after a call.
func (m *Metrics) CallOutcome(dealer, person, outcome string) {
	m.callOutcomes.WithLabelValues(dealer, person, outcome).Inc()
}

// FirstInvite observes the time from a lead's arrival to its first INVITE.
func (m *Metrics) FirstInvite(_ string, ch dialer.Channel, d time.Duration) {
	m.firstInvite.WithLabelValues(string(ch)).Observe(d.Seconds())
}

// IMAPConnected sets whether the dealer's IMAP mailbox is being read.
func (m *Metrics) IMAPConnected(dealer string, connected bool) {
	v := 0.0
	if connected {
		v = 1
	}
	m.imapConnected.WithLabelValues(dealer).Set(v)
}

// IMAPRemoved drops the dealer's leadline_imap_connected series: its mailbox is no
// longer read (config reload), which is not a mailbox that cannot be reached.
func (m *Metrics) IMAPRemoved(dealer string) {
	m.imapConnected.DeleteLabelValues(dealer)
}

// BridgeStarted counts a bridge as carrying media. Match it with one BridgeEnded.
func (m *Metrics) BridgeStarted() {
	m.bridgesActive.Inc()
}

// BridgeEnded counts a bridge started with BridgeStarted as ended.
func (m *Metrics) BridgeEnded() {
	m.bridgesActive.Dec()
}

// SIPResponse counts a SIP response with status code received to a request with the given
// method. The method is used as sent (INVITE, BYE…); SIP methods are upper-case.
func (m *Metrics) SIPResponse(method string, code int) {
	m.sipResponses.WithLabelValues(method, strconv.Itoa(code)).Inc()
}

// RTPPacket counts one RTP packet; direction is "in" or "out". It is called
// per packet and does not allocate. Any other direction is a caller bug and is not counted,
// so that it cannot create series.
func (m *Metrics) RTPPacket(direction string) {
	switch direction {
	case directionIn:
		m.rtpIn.Inc()
	case directionOut:
		m.rtpOut.Inc()
	}
}

// RTPDropped counts one datagram that came to a leg's RTP port and was ignored: reason is
// "source" (it did not come from the far end's media address: a stranger, or a packet
// before the far end's SDP), "malformed" (not RTP version 2), "payload_type" (from the
// far end, in a format we did not negotiate, such as comfort noise, or RTCP on an SRTP
// leg) or "auth" (on an SRTP leg, a packet that failed authentication or replay
// protection: tampered, forged, replayed). It is called per
// packet and does not allocate; any other reason is a caller bug and is not counted, so
// that it cannot create series.
func (m *Metrics) RTPDropped(reason string) {
	switch reason {
	case reasonSource:
		m.rtpDropSource.Inc()
	case reasonMalformed:
		m.rtpDropMalformed.Inc()
	case reasonPayloadType:
		m.rtpDropPayloadType.Inc()
	case reasonAuth:
		m.rtpDropAuth.Inc()
	}
}

// Handler serves the metrics gathered from g in the Prometheus text format, or in
// OpenMetrics when the scraper asks for it.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true})
}
