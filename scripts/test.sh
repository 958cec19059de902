#!/usr/bin/env bash
# test.sh runs Leadline's whole test suite the way CI does: it installs what the tests
# need (scripts/deps.sh), starts a throwaway PostgreSQL (scripts/pg.sh), runs every test
# with the race detector, then the demo as a smoke test, and stops PostgreSQL again.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh ./sip/...       # only some packages (go test arguments)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
eval "$(scripts/pg.sh start)"
trap 'scripts/pg.sh stop >/dev/null 2>&1 || true' EXIT

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)
go vet "${pkgs[@]}"
go test -race -count=1 -timeout 20m "${pkgs[@]}"
if [ $# -eq 0 ]; then
	go run ./cmd/leadline demo >/dev/null
	echo "demo: ok"
fi
