-- What happened to each lead that the dealer's CRM hears of (lead_events), written in
-- the transaction of the change it reports (store/events.go). Times are
-- unix milliseconds, UTC; 0 means unset. Keep in step with ../postgres/00007_webhooks.sql;
-- only the column types and the ids differ.

-- +goose Up
CREATE TABLE lead_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT, -- a lead's events sort as they happened
    lead_id TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    type    TEXT NOT NULL,  -- lead.received, lead.connected…
    at      INTEGER NOT NULL
) STRICT;

CREATE INDEX lead_events_lead_id ON lead_events (lead_id, id);

-- +goose Down
DROP TABLE lead_events;
