// Package crmmail sends a lead's result to the dealer's CRM by e-mail, as ADF 1.0
// (dealers[].crm_email): the mail VinSolutions, DealerSocket, eLead and most dealer CRMs
// take leads by.
//
// It owns the CRM mail endpoints (their ids, which the store routes events by, and the
// events they take: Events), the mail made of an event (Compose, Entry: the lead as shown,
// read back from the webhook body the store froze at the event's first try, mapped onto an
// ADF prospect with its result in words), and one try of a delivery through the relay,
// with its logs and metrics. When to try, in what order and how often is the store's
// (store/deliver.go): CRM mail has the webhooks' delivery, reached through cmd's courier,
// which hands crmmail the deliveries whose endpoint is a CRM address (IsEndpoint).
//
// crmmail imports adf, dialer, leadview and mailout. It must not import store, api,
// config, metrics, webhook or sip: the relay and the recorder arrive as interfaces.
package crmmail
