// Package leadview owns the lead as Leadline shows it to clients: the JSON object of
// SPEC.md's "HTTP API" (GET /v1/leads/{id}), with its attempts, duplicates, channel and
// external_id, and the time format of every time Leadline writes in JSON. The HTTP API
// answers with it and the outbound webhooks carry it as their data, so that a CRM sees
// one shape wherever a lead reaches it.
//
// leadview imports dialer only. It must not import api, store, webhook, config or any
// other adapter: they import it.
package leadview
