-- Several trunks (issue 13): each attempt records the trunk that carried it, or that gave
-- its final answer; '' for a SIP URI dialled directly and for attempts from before.
-- Keep in step with ../sqlite/00009_attempts_trunk.sql.

-- +goose Up
ALTER TABLE attempts ADD COLUMN trunk TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE attempts DROP COLUMN trunk;
