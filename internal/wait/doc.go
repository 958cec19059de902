// Package wait holds the tests' waits on events: a condition polled until it holds, or a
// channel until it closes, each with a bound after which the test fails. A wait ends as
// soon as its event happens; the bound is only there so that a test that would hang
// fails instead, and can be generous.
//
// It is for test code only and imports nothing of Leadline's.
package wait
