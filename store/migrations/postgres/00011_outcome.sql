-- The salesperson's outcome of a lead's call (dialer.CallOutcome): what they said came of
-- it, who, and when (unix milliseconds; 0 when none was given). Keep in step with
-- ../sqlite/00011_outcome.sql.

-- +goose Up
ALTER TABLE leads ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN outcome_by TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN outcome_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE leads DROP COLUMN outcome_at;
ALTER TABLE leads DROP COLUMN outcome_by;
ALTER TABLE leads DROP COLUMN outcome;
