package store_test

import (
	"testing"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// SQLite and PostgreSQL keep dialer.LeadStore's contract, the one the dialer's fake is
// held to as well (dialer/dialertest).
func TestLeadStoreContract(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		dialertest.TestLeadStore(t, func(t *testing.T) dialer.LeadStore { return newDB(t, b) })
	})
}
