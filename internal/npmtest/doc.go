// Package npmtest installs the npm packages that tests run as independent peers (npm's
// standardwebhooks, s3rver) into a folder of their own, once, for every test binary.
//
// It is for test code only and imports nothing of Leadline's.
package npmtest
