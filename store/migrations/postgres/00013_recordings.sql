-- Call recordings (issue 16): one per lead at most, the bridged call. Times are unix
-- milliseconds, 0 for none: expires_at 0 keeps the recording until it is erased;
-- duration_ms and bytes are 0 while the call is being recorded; deleted_at and
-- deleted_reason ("retention", "erasure") say that the file is gone, and the row stays
-- so that the lead says so. Keep in step with ../sqlite/00013_recordings.sql.

-- +goose Up
CREATE TABLE recordings (
	lead_id        TEXT PRIMARY KEY REFERENCES leads (id) ON DELETE CASCADE,
	dealer         TEXT NOT NULL,
	key            TEXT NOT NULL,
	started_at     BIGINT NOT NULL,
	duration_ms    BIGINT NOT NULL DEFAULT 0,
	bytes          BIGINT NOT NULL DEFAULT 0,
	expires_at     BIGINT NOT NULL DEFAULT 0,
	deleted_at     BIGINT NOT NULL DEFAULT 0,
	deleted_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX recordings_expiry ON recordings (expires_at) WHERE deleted_at = 0 AND expires_at > 0;

-- +goose Down
DROP INDEX recordings_expiry;
DROP TABLE recordings;
