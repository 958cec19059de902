// Package store keeps leads and their call attempts in SQLite (the embedded default,
// "sqlite://FILE") or PostgreSQL ("postgres://…", the production store shared by several
// nodes). *DB implements dialer.LeadStore.
//
// The package owns the database schema and its goose migrations (embedded, one directory
// per dialect), the connection setup for both dialects, the lease that makes exactly one
// node work a lead, lead de-duplication by idempotency key and external id, and the
// joining of a lead to an open lead for the same number (join.go). Every guard (lease,
// final status, de-duplication) is a single SQL statement, and joining is one transaction
// serialised per number (an advisory lock on PostgreSQL, the single writer on SQLite), so
// each holds across processes and nodes, not just goroutines. It also keeps softphones'
// registrations for the sip registrar (registrations.go).
//
// It also keeps each lead's events, written in the transaction of the change they report
// (events.go), and their delivery to the dealers' webhook endpoints: a lead's
// deliveries to one endpoint are a stream worked in event order by one River job at a
// time, retried with backoff, at least once across crashes and nodes (deliver.go; on
// SQLite their writes are committed in groups, batch.go). What is sent, and how, is the
// Courier's (the webhook package, wired in cmd).
//
// Open does not migrate: call (*DB).Migrate, or use OpenAndMigrate. Migrate is safe to run
// from several processes against one PostgreSQL at once (it holds an advisory lock).
//
// store speaks only in dialer's types. It must not import sip, api, metrics or config:
// cmd copies configuration values into Open.
package store
