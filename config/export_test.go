package config

// CoveredBy is coveredBy, for tests.
var CoveredBy = coveredBy
