#!/usr/bin/env bash
# pg.sh starts and stops a throwaway PostgreSQL 15 for tests.
#
#   eval "$(scripts/pg.sh start)"   # exports PG_TEST_URL and PG_TEST_DIR
#   go test -race ./store/...
#   scripts/pg.sh down; scripts/pg.sh up   # stop and restart that server, keeping its data
#   eval "$(scripts/pg.sh stop)"    # stops it, removes PG_TEST_DIR, unsets both
#
# start prints only shell export lines on stdout; progress and errors go to stderr.
# It installs postgresql-15 with apt-get when the binaries are missing, and is a
# no-op (re-printing the exports) when PG_TEST_DIR already holds a running server.
# Works as root (initdb and pg_ctl run as the postgres user) and as a normal user.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

# as_pg runs a command as the user who owns the cluster.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

ensure_installed() {
	[ -x "$PG_BIN/pg_ctl" ] && return 0
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "$PG_BIN/pg_ctl missing; install postgresql-15 (apt-get install postgresql-15)"
		sudo=(sudo -n)
	fi
	echo "pg.sh: installing postgresql-15" >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
		die "apt-get update failed"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null ||
		die "apt-get install postgresql-15 failed"
	[ -x "$PG_BIN/pg_ctl" ] || die "postgresql-15 installed but $PG_BIN/pg_ctl is missing"
}

running() {
	[ -n "${1:-}" ] && [ -f "$1/data/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

print_env() {
	local dir=$1 port
	port=$(cat "$dir/port")
	printf "export PG_TEST_URL='postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable'\n" "$port"
	printf "export PG_TEST_DIR='%s'\n" "$dir"
}

# port_free reports whether nothing listens on 127.0.0.1:$1.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
	if running "${PG_TEST_DIR:-}"; then
		print_env "$PG_TEST_DIR"
		return 0
	fi
	ensure_installed
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || die "user postgres missing (it comes with the postgresql-common package)"
	fi

	local dir
	dir=$(mktemp -d "${TMPDIR:-/tmp}/leadline-pg.XXXXXX")
	[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
	if ! as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync \
		--encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		rm -rf "$dir"
		die "initdb failed"
	fi

	local port try
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 40000))
		port_free "$port" || continue
		if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
			start >/dev/null 2>&1; then
			echo "$port" >"$dir/port"
			print_env "$dir"
			echo "pg.sh: PostgreSQL 15 on 127.0.0.1:$port, data in $dir" >&2
			return 0
		fi
		echo "pg.sh: start on port $port failed (try $try), retrying" >&2
	done
	tail -n 20 "$dir/log" >&2 || true
	rm -rf "$dir"
	die "could not start PostgreSQL"
}

stop() {
	local dir=${PG_TEST_DIR:-}
	if [ -n "$dir" ] && [ -d "$dir" ]; then
		case "$dir" in
		*/leadline-pg.*) ;;
		*) die "PG_TEST_DIR=$dir was not made by pg.sh; not removing it" ;;
		esac
		if running "$dir"; then
			as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
		rm -rf "$dir"
	fi
	# For eval "$(scripts/pg.sh stop)"; nothing is printed to a terminal.
	[ -t 1 ] || echo "unset PG_TEST_URL PG_TEST_DIR"
}

# down and up stop and restart the server of PG_TEST_DIR on its port, keeping its data:
# for tests of a database that goes away and comes back.
down() {
	running "${PG_TEST_DIR:-}" || die "no running server in PG_TEST_DIR"
	as_pg "$PG_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m fast -w stop >/dev/null
}

up() {
	local dir=${PG_TEST_DIR:-} port
	[ -n "$dir" ] && [ -f "$dir/port" ] || die "PG_TEST_DIR has no server"
	running "$dir" && return 0
	port=$(cat "$dir/port")
	as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
		start >/dev/null
}

case "${1:-}" in
start) start ;;
stop) stop ;;
down) down ;;
up) up ;;
*)
	echo "usage: eval \"\$($0 start)\" | $0 stop" >&2
	exit 2
	;;
esac
