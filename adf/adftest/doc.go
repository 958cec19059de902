// Package adftest checks ADF documents in tests against the ADF 1.0 DTD
// (adf/testdata/adf-1.0.dtd) with xmllint (Debian's libxml2-utils), an implementation
// that is not Leadline's: a test skips when xmllint is not installed.
//
// It owns finding the DTD and running xmllint. It imports nothing of Leadline's and
// must not: adf's own tests, crmmail's and cmd's use it alike. Only tests import it.
package adftest
