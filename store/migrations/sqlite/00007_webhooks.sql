-- What happened to each lead that the dealer's CRM hears of (lead_events), written in
-- the transaction of the change it reports (store/events.go), and its delivery to each
-- webhook endpoint of the dealer (webhook_deliveries), worked by River jobs
-- (store/deliver.go). Times are unix milliseconds, UTC; 0 means unset.
-- Keep in step with ../postgres/00007_webhooks.sql; only the column types and the ids differ.

-- +goose Up
CREATE TABLE lead_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT, -- a lead's events sort as they happened
    lead_id TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    type    TEXT NOT NULL,  -- lead.received, lead.connected…
    at      INTEGER NOT NULL,
    body    BLOB    -- the webhook body, fixed at the event's first try; NULL before
) STRICT;

CREATE INDEX lead_events_lead_id ON lead_events (lead_id, id);

-- The endpoints the dealers' webhooks name (SetEndpoints), and those a 410 Gone
-- disabled: disabled_version is the configuration that was disabled, so that changing
-- the endpoint's configuration enables it again.
CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY NOT NULL, -- from the dealer and the URL
    dealer           TEXT NOT NULL,
    url              TEXT NOT NULL,             -- as shown: no user information, no query
    disabled_version TEXT NOT NULL DEFAULT '',  -- '' while enabled
    disabled_at      INTEGER NOT NULL DEFAULT 0,
    disabled_reason  TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY NOT NULL,     -- the webhook-id: uuid v7
    event_id     INTEGER NOT NULL REFERENCES lead_events (id) ON DELETE CASCADE,
    lead_id      TEXT NOT NULL,                 -- the event's, for the order per lead
    endpoint     TEXT NOT NULL,
    state        TEXT NOT NULL,                 -- pending, delivered, failed, gave_up, disabled
    tries        INTEGER NOT NULL DEFAULT 0,
    job_id       INTEGER NOT NULL DEFAULT 0,  -- the River job that works it
    first_try_at INTEGER NOT NULL DEFAULT 0,
    last_try_at  INTEGER NOT NULL DEFAULT 0,
    next_try_at  INTEGER NOT NULL DEFAULT 0,
    done_at      INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER NOT NULL DEFAULT 0,  -- a try in progress until then; lapsed: its node died
    last_status  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT ''
) STRICT;

-- A lead's deliveries to one endpoint in event order: the stream whose order is kept.
CREATE UNIQUE INDEX webhook_deliveries_stream ON webhook_deliveries (lead_id, endpoint, event_id);
-- The deliveries still to make, per endpoint (a 410 disables them all).
CREATE INDEX webhook_deliveries_open ON webhook_deliveries (endpoint) WHERE state IN ('pending', 'failed');
-- Tries in progress, for the sweep of those whose node died.
CREATE INDEX webhook_deliveries_lease ON webhook_deliveries (lease_until) WHERE lease_until <> 0;

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE lead_events;
