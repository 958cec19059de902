#!/usr/bin/env bash
# test.sh runs Leadline's whole test suite the way CI does: it installs what the tests
# need (scripts/deps.sh), starts a throwaway PostgreSQL (scripts/pg.sh), fails on any
# gofmt, go vet, staticcheck or OpenAPI lint finding, runs every test with the race
# detector, then the demo as a smoke test, and stops PostgreSQL again.
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

# The gate: formatting, vet and staticcheck find nothing, before any test runs.
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "test.sh: not gofmt-ed (run gofmt -w on them):" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet "${pkgs[@]}"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 "${pkgs[@]}"
# api/openapi.yaml passes Redocly's OpenAPI linter (its npm package pinned in scripts/redocly).
[ -x scripts/redocly/node_modules/.bin/redocly ] ||
	(cd scripts/redocly && npm ci --no-audit --no-fund --prefer-offline -s >/dev/null)
if ! lint=$(scripts/redocly/node_modules/.bin/redocly lint --config scripts/redocly/redocly.yaml \
	--format=stylish api/openapi.yaml 2>&1); then
	echo "test.sh: api/openapi.yaml fails Redocly's lint:" >&2
	echo "$lint" >&2
	exit 1
fi

go test -race -count=1 -timeout 20m "${pkgs[@]}"
if [ $# -eq 0 ]; then
	go run ./cmd/leadline demo >/dev/null
	echo "demo: ok"
fi
