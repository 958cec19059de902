package dialer

import (
	"context"
	"errors"
)

// The connection: the salesperson of call c accepted; the customer is called and, once
// they answer, bridged to them. The customer's call reports to c, whose state
// (connecting, called off, bridged, outcome) is the connection's.

// connect calls the customer for the salesperson of c. The customer's attempt is
// written before the INVITE, never after it, so that a customer is dialled at most once
// per attempt, whatever happens to the node.
func (f *flow) connect(c *call) {
	l := &f.lead
	c.won = true
	cust := f.newCall(c.ctx, LegCustomer, c.person, c.att.Step)
	cust.log = f.log.With("call_id", cust.callID, "agent_call_id", c.callID)
	c.cust = cust
	if err := f.store.InsertAttempt(f.db, cust.att); err != nil {
		// Unrecorded, the customer could be dialled twice after a crash: do not dial.
		cust.log.Error("recording customer attempt; not calling", "error", err)
		c.state = stateDone
		f.decide(StatusFailed, "could not record the customer call")
		return
	}
	// The salesperson hears "connecting", then ringback or the customer's early media.
	f.play(c, "playing ringback", f.playRingback(c.leg))
	o := DialOpts{
		LeadID: l.ID, Kind: LegCustomer, CallID: cust.callID, CallerID: f.d.CallerID, EarlyMedia: c.leg,
		Privacy: f.d.Privacy,
	}
	to := l.Phone
	f.line(cust, c, f.d.CustomerRingTimeout, false, func(ctx context.Context) (Leg, error) { return f.s.caller.Dial(ctx, to, o) })
}

// bridge connects the customer, who answered on leg, to the salesperson of c, and
// writes the connection.
func (f *flow) bridge(c *call, leg Leg) {
	l, cust := &f.lead, c.cust
	f.stopPlayer(c)
	cust.leg = leg
	cust.att.Trunk = trunkOf(leg, nil)
	cust.att.AnsweredAt = f.s.now()
	f.s.rec.CustomerAttempt(l.Dealer, ResultAnswered)
	// The customer is told of the recording, or asked, before the bridge (recording.go).
	// The flow's goroutine waits for that, as for the closing prompt of unreached: the
	// connection is the only call left, and the notice watches both legs' ends.
	recordOK := f.recordingConsent(c.ctx, c.leg, leg)
	if err := c.leg.Bridge(leg); err != nil {
		f.end(cust.att, ResultAnswered, 0)
		c.state = stateDone
		f.decide(StatusFailed, "the call ended before it could be bridged")
		return
	}
	c.stopRec = f.startRecording(c.ctx, c.leg, leg, recordOK) // until either leg ends
	l.ConnectedAt = cust.att.AnsweredAt
	f.save(cust.att)
	if err := f.retry(func() error {
		_, err := f.store.UpdateLead(f.db, LeadUpdate{ID: l.ID, Status: StatusConnected, ConnectedAt: l.ConnectedAt})
		return err
	}); err != nil {
		cust.log.Error("recording connection", "error", err)
	}
	f.accepted = c.person.ID
	cust.log.Info("customer bridged", "person", c.person.ID, "speed_to_lead_seconds", l.SpeedToLead().Seconds())
	f.after(c, f.d.MaxCallLength)
}

// unreached: the customer's INVITE ended unanswered (res, err). The salesperson hears
// so, and the lead's next retry is planned, or it ends customer_unreachable.
func (f *flow) unreached(c *call, err error, res Result) {
	cust := c.cust
	f.stopPlayer(c)
	code := sipCode(err)
	cust.att.Trunk = trunkOf(nil, err)
	cust.log.Info("customer not reached", "result", res, "sip_code", code, "error", err)
	f.end(cust.att, res, code)
	f.s.rec.CustomerAttempt(f.lead.Dealer, res)
	// A closing prompt: the flow plays it itself; only the salesperson's hanging up, or
	// the flow's end, cuts it short.
	ph := phrasesFor(f.d.Language)
	_ = c.leg.Play(c.ctx, f.speak(c.ctx, Prompt{PromptCustomerUnreachable, ph.customerUnreachable}))
	f.decide(f.customerNotReached(res))
}

// callOff cancels the customer's INVITE: the salesperson hung up (evHungUp) or the flow
// stops (e.err is its cause). The connection ends when the customer's Dial returns.
func (f *flow) callOff(c *call, e event) {
	c.off = e.err
	if e.kind == evHungUp {
		c.off = errAgentLeft
	}
	c.cust.release()
}

// calledOff: the customer's INVITE, called off, has ended (a leg that answered
// meanwhile is hung up by its line). The customer's attempt failed; the lead failed when
// the salesperson left, and stops as the flow does otherwise.
func (f *flow) calledOff(c *call, e event) {
	cust := c.cust
	f.stopPlayer(c)
	code, trunk := sipCode(e.err), trunkOf(e.leg, e.err)
	left := errors.Is(c.off, errAgentLeft)
	if left { // the salesperson's leaving is what ended the INVITE
		code, trunk = 0, trunkOf(e.leg, nil)
	}
	cust.att.Trunk = trunk
	err := e.err
	if left {
		err = errAgentLeft
	}
	cust.log.Info("customer not reached", "result", ResultFailed, "sip_code", code, "error", err)
	f.end(cust.att, ResultFailed, code)
	f.s.rec.CustomerAttempt(f.lead.Dealer, ResultFailed)
	if left {
		f.decide(StatusFailed, errAgentLeft.Error())
		return
	}
	f.decide(stoppedBy(c.off))
}

// hangUp: the bridged call is over, for reason: the lead is completed.
func (f *flow) hangUp(c *call, reason string) {
	f.end(c.cust.att, ResultAnswered, 0)
	f.decide(StatusCompleted, reason)
}

// disconnect lets the connection's legs go, the customer's then the salesperson's
// (their lines hang them up), and ends the salesperson's attempt.
func (f *flow) disconnect(c *call) {
	if c.stopRec != nil {
		c.stopRec()
		c.stopRec = nil
	}
	if c.cust != nil {
		c.cust.release()
	}
	c.release()
	f.end(c.att, ResultAccepted, 0)
}
