-- Softphones' registrations (RFC 3261 section 10): one row per device of a SIP user,
-- kept here so that a restart keeps them and every node sees them. node is the node
-- whose socket took the REGISTER: a device behind NAT is reachable through it only.
-- Times are unix milliseconds, UTC. Keep in step with ../postgres/00010_registrations.sql;
-- only the column types differ.

-- +goose Up
CREATE TABLE registrations (
    id          TEXT PRIMARY KEY NOT NULL,
    sip_user    TEXT NOT NULL,
    dealer      TEXT NOT NULL,
    person      TEXT NOT NULL,
    binding_key TEXT NOT NULL, -- +sip.instance, else the Contact URI
    contact     TEXT NOT NULL,
    source      TEXT NOT NULL, -- ip:port the REGISTER came from
    transport   TEXT NOT NULL,
    node        TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    cseq        INTEGER NOT NULL,
    user_agent  TEXT NOT NULL DEFAULT '',
    expires_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (sip_user, binding_key)
) STRICT;

CREATE INDEX registrations_node ON registrations (node, expires_at);

-- +goose Down
DROP TABLE registrations;
