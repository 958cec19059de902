-- The daily cap on leads per customer number counts a number's recent leads over every
-- dealer (store/abuse.go). Keep in step with ../sqlite/00002_leads_phone.sql.

-- +goose Up
CREATE INDEX leads_phone_created ON leads (phone, created_at);

-- +goose Down
DROP INDEX leads_phone_created;
