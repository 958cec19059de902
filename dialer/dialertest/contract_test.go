package dialertest_test

import (
	"testing"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// The fake keeps the contract the real stores keep (store/contract_test.go runs the
// same suite on SQLite and PostgreSQL).
func TestFakeStoreContract(t *testing.T) {
	dialertest.TestLeadStore(t, func(*testing.T) dialer.LeadStore { return dialertest.NewStore() })
}
