-- The owner's report reads a dealer's leads by creation time (store/report.go). Keep in
-- step with ../sqlite/00008_leads_dealer_created.sql.

-- +goose Up
CREATE INDEX leads_dealer_created ON leads (dealer, created_at);

-- +goose Down
DROP INDEX leads_dealer_created;
