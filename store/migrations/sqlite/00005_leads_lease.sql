-- The sweep (store/queue.go) looks for leads whose lease lapsed every takeover time:
-- only leads being worked on have a lease_node, so the index stays as small as the
-- number of calls in progress. Keep in step with ../postgres/00005_leads_lease.sql.

-- +goose Up
CREATE INDEX leads_lease_until ON leads (lease_until) WHERE lease_node <> '';

-- +goose Down
DROP INDEX leads_lease_until;
