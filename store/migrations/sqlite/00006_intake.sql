-- How each lead arrived (channel, and for e-mail its sender and Message-ID), the
-- original message of a lead for audit, and the messages that held no lead
-- (rejections), kept with their reason so that nothing is silently dropped. Times are
-- unix milliseconds, UTC. Keep in step with ../postgres/00006_intake.sql; only the
-- column types differ.

-- +goose Up
ALTER TABLE leads ADD COLUMN channel TEXT NOT NULL DEFAULT 'api';
ALTER TABLE leads ADD COLUMN sender TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN message_id TEXT NOT NULL DEFAULT '';

ALTER TABLE lead_joins ADD COLUMN channel TEXT NOT NULL DEFAULT 'api';
ALTER TABLE lead_joins ADD COLUMN sender TEXT NOT NULL DEFAULT '';
ALTER TABLE lead_joins ADD COLUMN message_id TEXT NOT NULL DEFAULT '';

CREATE TABLE lead_originals (
    lead_id      TEXT PRIMARY KEY NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL, -- of the whole message; body may be cut short
    body         BLOB NOT NULL
) STRICT;

CREATE TABLE rejections (
    id           TEXT PRIMARY KEY NOT NULL, -- uuid v7: time-ordered
    dealer       TEXT NOT NULL,
    channel      TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    sender       TEXT NOT NULL DEFAULT '',
    message_id   TEXT NOT NULL DEFAULT '',
    subject      TEXT NOT NULL DEFAULT '',
    reason       TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    size         INTEGER NOT NULL DEFAULT 0,
    body         BLOB
) STRICT;

CREATE INDEX rejections_dealer_id ON rejections (dealer, id DESC);
CREATE UNIQUE INDEX rejections_dealer_message_id ON rejections (dealer, message_id) WHERE message_id <> '';

-- +goose Down
DROP TABLE rejections;
DROP TABLE lead_originals;
ALTER TABLE lead_joins DROP COLUMN message_id;
ALTER TABLE lead_joins DROP COLUMN sender;
ALTER TABLE lead_joins DROP COLUMN channel;
ALTER TABLE leads DROP COLUMN message_id;
ALTER TABLE leads DROP COLUMN sender;
ALTER TABLE leads DROP COLUMN channel;
