-- Leads and the call legs placed for them. Times are unix milliseconds, UTC; 0 means unset.
-- Keep in step with ../postgres/00001_leads.sql; only the column types and the attempts
-- id differ (SQLite has no identity columns and its text compares bytewise already).

-- +goose Up
CREATE TABLE leads (
    id              TEXT PRIMARY KEY NOT NULL, -- uuid v7 from the caller: time-ordered
    dealer          TEXT NOT NULL,
    status          TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL DEFAULT '',
    email           TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL DEFAULT '',
    interest        TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL DEFAULT '',
    assigned_to     TEXT NOT NULL DEFAULT '',
    external_id     TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    connected_at    INTEGER NOT NULL DEFAULT 0,
    ended_at        INTEGER NOT NULL DEFAULT 0,
    reason          TEXT NOT NULL DEFAULT '',
    lease_node      TEXT NOT NULL DEFAULT '', -- '' when nobody holds the lease
    lease_until     INTEGER NOT NULL DEFAULT 0,
    job_id          INTEGER NOT NULL DEFAULT 0, -- the lead's River watch job
    next_at         INTEGER NOT NULL DEFAULT 0, -- a scheduled lead's planned start
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX leads_dealer_external_id ON leads (dealer, external_id) WHERE external_id <> '';
CREATE UNIQUE INDEX leads_dealer_idempotency_key ON leads (dealer, idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX leads_dealer_id ON leads (dealer, id DESC);
CREATE INDEX leads_dealer_status_id ON leads (dealer, status, id DESC);

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id     TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    step        INTEGER NOT NULL,
    leg         TEXT NOT NULL,
    person      TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL DEFAULT '',
    sip_code    INTEGER NOT NULL DEFAULT 0,
    started_at  INTEGER NOT NULL DEFAULT 0,
    answered_at INTEGER NOT NULL DEFAULT 0,
    accepted_at INTEGER NOT NULL DEFAULT 0,
    ended_at    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX attempts_lead_id ON attempts (lead_id, id);

-- +goose Down
DROP TABLE attempts;
DROP TABLE leads;
