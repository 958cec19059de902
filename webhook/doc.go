// Package webhook sends a lead's events to the dealers' CRMs as Standard Webhooks
// (https://www.standardwebhooks.com): a JSON body {"type", "timestamp", "data": the lead
// as Leadline shows it (leadview)}, signed with every secret of the endpoint (HMAC-SHA256
// over id.timestamp.body, by the standard-webhooks reference library), one try at a time.
//
// It owns the endpoints' configuration in sending terms (URL, secrets, the ids and
// versions the store keeps them by), the body of an event, the HTTP client (a time limit
// per try, no redirects followed, no proxy, and no connection to an address package
// ssrf refuses, checked after DNS on every connection), the reading of an answer
// (2xx delivered, 410 gone, anything else failed, with Retry-After and a short, cleaned
// start of its body), and the logs and metrics of each try. *Sender implements the
// store's Courier; when to try, in what order and how often is the store's
// (store/deliver.go), wired together in cmd.
//
// webhook imports dialer, leadview and ssrf. It must not import api, store, config,
// metrics or sip: the lead reader and the recorder arrive as interfaces.
package webhook
