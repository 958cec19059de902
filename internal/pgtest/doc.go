// Package pgtest gives a test a PostgreSQL database of its own on the server that
// PG_TEST_URL names (scripts/test.sh starts one with scripts/pg.sh), created empty and
// dropped when the test ends. Without PG_TEST_URL the test is skipped.
//
// It is for test code only and imports nothing of Leadline's.
package pgtest
