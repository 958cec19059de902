-- The owner's weekly report mails (store/reportmail.go): one row per dealer and ISO week,
-- so that a report is mailed once a week whatever the nodes and restarts; each worked by a
-- River job, tried under a lease like a webhook delivery. Times are unix milliseconds,
-- UTC; 0 means unset. Keep in step with ../postgres/00012_report_mails.sql.

-- +goose Up
CREATE TABLE report_mails (
    dealer       TEXT NOT NULL,
    week         TEXT NOT NULL,               -- the ISO week of its day in the dealer's zone: 2026-W44
    due_at       INTEGER NOT NULL,
    period_from  TEXT NOT NULL,               -- the report's first day, 2026-10-19
    period_to    TEXT NOT NULL,               -- and its last, included
    state        TEXT NOT NULL DEFAULT 'pending', -- pending, delivered, failed, gave_up, disabled
    tries        INTEGER NOT NULL DEFAULT 0,
    job_id       INTEGER NOT NULL DEFAULT 0,  -- the River job that works it
    first_try_at INTEGER NOT NULL DEFAULT 0,
    next_try_at  INTEGER NOT NULL DEFAULT 0,
    done_at      INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER NOT NULL DEFAULT 0,  -- a try in progress until then; lapsed: its node died
    last_status  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (dealer, week)
) STRICT;

-- The open mails, which the sweep and the planning look through.
CREATE INDEX report_mails_open ON report_mails (due_at) WHERE state IN ('pending', 'failed');

-- +goose Down
DROP TABLE report_mails;
