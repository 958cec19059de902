package api_test

import (
	"context"
	"errors"
	"sync"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/dialer"
)

// fakeLeads is a recording api.Leads: each method records its call and then runs its
// XxxFn, or fails with errUnexpectedCall when that is nil.
type fakeLeads struct {
	SubmitFn func(ctx context.Context, dealer string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error)
	CheckFn  func(ctx context.Context, dealer string, in dialer.LeadInput) (dialer.Lead, error)
	GetFn    func(ctx context.Context, dealer, id string) (dialer.Lead, error)
	ListFn   func(ctx context.Context, q dialer.ListQuery) ([]dialer.Lead, string, error)
	CancelFn func(ctx context.Context, dealer, id string) (dialer.Lead, error)

	DeliveriesFn func(ctx context.Context, dealer, id string) ([]dialer.Delivery, error)

	RejectFn     func(ctx context.Context, r dialer.Rejection) (dialer.Rejection, error)
	OriginalFn   func(ctx context.Context, dealer, leadID string) (*dialer.Original, error)
	RejectionsFn func(ctx context.Context, dealer string, limit int, cursor string) ([]dialer.Rejection, string, error)
	RejectionFn  func(ctx context.Context, dealer, id string) (dialer.Rejection, error)
	ReportDaysFn func(ctx context.Context, dealer, from, to string) (dialer.Report, error)

	mu    sync.Mutex
	calls []call // guarded by mu
}

// call is one recorded method call.
type call struct {
	Method string
	Dealer string
	ID     string
	Input  dialer.LeadInput
	Query  dialer.ListQuery
	Limit  int    // Rejections
	Cursor string // Rejections
	From   string // ReportDays
	To     string // ReportDays
	// Rejection is what Reject was given.
	Rejection dialer.Rejection
}

var (
	_ api.Leads = (*fakeLeads)(nil)
	_ api.Leads = (*dialer.Service)(nil)
)

var errUnexpectedCall = errors.New("fake: unexpected call")

func (f *fakeLeads) record(c call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// Calls returns the calls so far.
func (f *fakeLeads) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeLeads) Submit(ctx context.Context, dealer string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
	f.record(call{Method: "Submit", Dealer: dealer, Input: in})
	if f.SubmitFn == nil {
		return dialer.Lead{}, 0, errUnexpectedCall
	}
	return f.SubmitFn(ctx, dealer, in)
}

func (f *fakeLeads) Check(ctx context.Context, dealer string, in dialer.LeadInput) (dialer.Lead, error) {
	f.record(call{Method: "Check", Dealer: dealer, Input: in})
	if f.CheckFn == nil {
		return dialer.Lead{}, errUnexpectedCall
	}
	return f.CheckFn(ctx, dealer, in)
}

func (f *fakeLeads) Get(ctx context.Context, dealer, id string) (dialer.Lead, error) {
	f.record(call{Method: "Get", Dealer: dealer, ID: id})
	if f.GetFn == nil {
		return dialer.Lead{}, errUnexpectedCall
	}
	return f.GetFn(ctx, dealer, id)
}

func (f *fakeLeads) List(ctx context.Context, q dialer.ListQuery) ([]dialer.Lead, string, error) {
	f.record(call{Method: "List", Dealer: q.Dealer, Query: q})
	if f.ListFn == nil {
		return nil, "", errUnexpectedCall
	}
	return f.ListFn(ctx, q)
}

func (f *fakeLeads) Cancel(ctx context.Context, dealer, id string) (dialer.Lead, error) {
	f.record(call{Method: "Cancel", Dealer: dealer, ID: id})
	if f.CancelFn == nil {
		return dialer.Lead{}, errUnexpectedCall
	}
	return f.CancelFn(ctx, dealer, id)
}

func (f *fakeLeads) Deliveries(ctx context.Context, dealer, id string) ([]dialer.Delivery, error) {
	f.record(call{Method: "Deliveries", Dealer: dealer, ID: id})
	if f.DeliveriesFn == nil {
		return nil, errUnexpectedCall
	}
	return f.DeliveriesFn(ctx, dealer, id)
}

func (f *fakeLeads) Original(ctx context.Context, dealer, leadID string) (*dialer.Original, error) {
	f.record(call{Method: "Original", Dealer: dealer, ID: leadID})
	if f.OriginalFn == nil {
		return nil, errUnexpectedCall
	}
	return f.OriginalFn(ctx, dealer, leadID)
}

func (f *fakeLeads) Rejections(ctx context.Context, dealer string, limit int, cursor string) ([]dialer.Rejection, string, error) {
	f.record(call{Method: "Rejections", Dealer: dealer, Limit: limit, Cursor: cursor})
	if f.RejectionsFn == nil {
		return nil, "", errUnexpectedCall
	}
	return f.RejectionsFn(ctx, dealer, limit, cursor)
}

func (f *fakeLeads) Rejection(ctx context.Context, dealer, id string) (dialer.Rejection, error) {
	f.record(call{Method: "Rejection", Dealer: dealer, ID: id})
	if f.RejectionFn == nil {
		return dialer.Rejection{}, errUnexpectedCall
	}
	return f.RejectionFn(ctx, dealer, id)
}

func (f *fakeLeads) Reject(ctx context.Context, r dialer.Rejection) (dialer.Rejection, error) {
	f.record(call{Method: "Reject", Dealer: r.Dealer, Rejection: r})
	if f.RejectFn == nil {
		return dialer.Rejection{}, errUnexpectedCall
	}
	return f.RejectFn(ctx, r)
}

func (f *fakeLeads) ReportDays(ctx context.Context, dealer, from, to string) (dialer.Report, error) {
	f.record(call{Method: "ReportDays", Dealer: dealer, From: from, To: to})
	if f.ReportDaysFn == nil {
		return dialer.Report{}, errUnexpectedCall
	}
	return f.ReportDaysFn(ctx, dealer, from, to)
}
