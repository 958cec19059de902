-- Submissions that joined an open lead for the same number instead of starting a second
-- call (dealers[].duplicate_window; store/join.go). Everything the customer sent is kept.
-- A repeat of a join's idempotency key or external id is answered with the lead it
-- joined, so both are unique per dealer here as they are on leads. Times are unix
-- milliseconds, UTC. Keep in step with ../postgres/00004_lead_joins.sql; only the column
-- types and the id differ, as in 00001.

-- +goose Up
CREATE TABLE lead_joins (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id         TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    dealer          TEXT NOT NULL, -- the lead's, for the unique keys below
    received_at     INTEGER NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    email           TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL DEFAULT '',
    interest        TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL DEFAULT '',
    assigned_to     TEXT NOT NULL DEFAULT '',
    external_id     TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX lead_joins_lead_id ON lead_joins (lead_id, id);
CREATE UNIQUE INDEX lead_joins_dealer_external_id ON lead_joins (dealer, external_id) WHERE external_id <> '';
CREATE UNIQUE INDEX lead_joins_dealer_idempotency_key ON lead_joins (dealer, idempotency_key) WHERE idempotency_key <> '';

-- +goose Down
DROP TABLE lead_joins;
