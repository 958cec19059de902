-- Rounds and rotation (issue 7). A lead's walk through its flow happens in rounds: the
-- first, a retry after the customer was not reached, or another walk after nobody
-- accepted. leads.round is the round the lead is in or is scheduled to start; every
-- attempt records its round. rotations keeps each round robin step's turn counter, so
-- that the person rung first rotates fairly across leads, restarts and nodes.
-- Keep in step with ../postgres/00003_rounds.sql.

-- +goose Up
ALTER TABLE leads ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN round INTEGER NOT NULL DEFAULT 0;

CREATE TABLE rotations (
    dealer TEXT NOT NULL,
    step   TEXT NOT NULL, -- the step's people, comma-separated: a changed group starts afresh
    turn   INTEGER NOT NULL,
    PRIMARY KEY (dealer, step)
) STRICT;

-- +goose Down
DROP TABLE rotations;
ALTER TABLE attempts DROP COLUMN round;
ALTER TABLE leads DROP COLUMN round;
