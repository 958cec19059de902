#!/usr/bin/env bash
# Load test of Leadline's call path and media relay, all on loopback, next to rtpengine
# with the same RTP traffic. It stops by itself; everything it starts it stops (by pid).
#
#   scripts/load/run.sh                 # 500 calls at 100/s, 20 s measured
#   CALLS=200 RATE=50 WINDOW=10 scripts/load/run.sh
#   SKIP_RTPENGINE=1 scripts/load/run.sh
#   SRTP=1 scripts/load/run.sh          # then the same calls again with SRTP legs
#   SRTP=only scripts/load/run.sh       # SRTP legs only
#   LEADLINE_BIN=/path/to/leadline KEEP=1 LOGLEVEL=debug scripts/load/run.sh
#   LEADLINE_GOMAXPROCS=4 scripts/load/run.sh   # Go's Ps on the one core: see BENCHMARKS.md
#   TAKEOVER=60s scripts/load/run.sh            # takeover_after: flows renew leases a sixth as often
#   RECORD=1 SKIP_RTPENGINE=1 scripts/load/run.sh  # every call recorded (consent announce) to tmpfs
#
# Leadline (`leadline serve`, built from this tree) runs pinned to core $CORE with SQLite
# on tmpfs and the "files" prompts, so no speech synthesis runs. sipp plays the
# salespeople (answer, stay on, hang up) and the trunk's customers (answer, stay on);
# their SDP names the sockets of rtpload (scripts/load/rtpload), which posts the leads,
# presses 1 on each salesperson's leg (RFC 4733), sends 20 ms PCMU both ways on every
# bridged call and measures. With SRTP=1 a second Leadline (a new store) gets the same
# calls with SRTP on both legs of each (srtp: required on the salesperson and the trunk;
# agent_srtp.xml and customer_srtp.xml answer RTP/SAVP with a key and log Leadline's for
# rtpload), so the two cost the same number of calls side by side. Then rtpengine
# (userspace, pinned to the same core) gets the same calls over its ng protocol and the
# same plain traffic. Results: a table on stdout and JSON lines in $OUT (default: a
# temporary file, printed).
#
# Needs: Go, sipp (sip-tester), taskset; rtpengine-daemon for the comparison.
set -euo pipefail

CALLS=${CALLS:-500}
RATE=${RATE:-100}
WINDOW=${WINDOW:-20}
CORE=${CORE:-0}        # the relay's core
TOOLCORE=${TOOLCORE:-1} # rtpload and sipp
SKIP_RTPENGINE=${SKIP_RTPENGINE:-}
SRTP=${SRTP:-}
case $SRTP in
"") MEDIA="plain" ;;
only) MEDIA="srtp" ;;
*) MEDIA="plain srtp" ;;
esac
(( CALLS >= 1 && CALLS <= 2000 )) || { echo "CALLS must be 1..2000" >&2; exit 2; }
(( WINDOW >= 1 && WINDOW <= 300 )) || { echo "WINDOW must be 1..300 seconds" >&2; exit 2; }

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/scripts/load"
tmp=$(mktemp -d /dev/shm/leadline-load.XXXXXX 2>/dev/null || mktemp -d)
OUT=${OUT:-$tmp/results.jsonl}
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	[[ -n ${KEEP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT

for cmd in go sipp taskset; do command -v "$cmd" >/dev/null || { echo "missing $cmd" >&2; exit 1; }; done

echo "== building" >&2
if [[ -n ${LEADLINE_BIN:-} ]]; then cp "$LEADLINE_BIN" "$tmp/leadline"; else (cd "$root" && go build -o "$tmp/leadline" ./cmd/leadline); fi
(cd "$root" && go build -o "$tmp/rtpload" ./scripts/load/rtpload)
read -r SIP HTTP AGENT_SIP CUST_SIP AGENT_RTP CUST_RTP NG SIPP_MA SIPP_MC < <("$tmp/rtpload" -mode ports -n 9 | tr '\n' ' '; echo)
mkdir -p "$tmp/prompts"
"$tmp/rtpload" -mode prompts -dir "$tmp/prompts"
KEY=load-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
# Customers may only be rung in their daytime (8:00-21:00 local): use numbers of a country
# where it is day now. Mobile ranges: NL 06, JP 090, US New York 212.
PHONE=
for c in "Europe/Amsterdam +316 8 10000000" "Asia/Tokyo +8190 8 10000000" "America/New_York +1212 7 2000000"; do
	read -r zone prefix digits base <<<"$c"
	h=$(TZ=$zone date +%-H)
	if (( h >= 9 && h <= 19 )); then PHONE="-phone-prefix $prefix -phone-digits $digits -phone-base $base"; break; fi
done
[[ -n $PHONE ]] || { echo "no customer country in daytime now" >&2; exit 1; }
# Calls stay up through the ramp, rtpload's wait for the last bridge (-settle, 30 s at
# most), the window and a margin: none may end inside the window.
HOLD_MS=$(( (CALLS / ${RATE%.*} + 30 + WINDOW + 15) * 1000 ))

# The key the sipp scenarios answer SRTP offers with (key and salt, base64): the same on
# every leg of the load, whose streams' SSRCs differ.
SKEY=$(head -c 30 /dev/urandom | base64)

run_sipp() { # name scenario port mediaport [more sipp options]; RTPPORT: the SDP's port
	local name=$1 scenario=$2 port=$3 mport=$4
	shift 4
	taskset -c "$TOOLCORE" sipp -sf "$here/$scenario" -i 127.0.0.1 -p "$port" -mp "$mport" -t u1 -nostdin \
		-set mport "$RTPPORT" -d "$HOLD_MS" -m "$CALLS" -timeout "$(( HOLD_MS / 1000 + 120 ))s" \
		-trace_err -error_file "$tmp/$name.err" "$@" >"$tmp/$name.out" 2>&1 &
	pids+=($!)
}

run_leadline() { # plain | srtp
	local media=$1 srtp="" scen="" sippopts=() toolopts=()
	if [[ $media == srtp ]]; then
		srtp=", srtp: required"
		scen=_srtp
		toolopts=(-srtp-key "$SKEY" -srtp-keys "$tmp/keys-agents.log,$tmp/keys-customers.log")
	fi
	cat > "$tmp/leadline.yaml" <<EOF
log: { level: ${LOGLEVEL:-warn} }
takeover_after: ${TAKEOVER:-10s}
max_leads_per_number_per_day: 1000000
http: { listen: "127.0.0.1:$HTTP" }
sip:
  listen: "127.0.0.1:$SIP"
  rtp_ports: "20000-29999"
  trunk: { uri: "sip:127.0.0.1:$CUST_SIP"$srtp }
store: "sqlite://$tmp/leadline-$media.db"
tts: { engine: files, dir: "$tmp/prompts" }
dealers:
  - id: load
    api_keys: ["$KEY"]
    caller_id: "+31201234567"
    countries: [NL, JP, US]
    language: en
    ring_timeout: 20s
    accept_timeout: 10s
    people:
      - { id: agent, phone: "sip:agent@127.0.0.1:$AGENT_SIP"$srtp }
    flow: [agent]
EOF
if [[ -n ${RECORD:-} ]]; then
	# Every bridged call recorded (after a 0.4 s notice tone), into tmpfs: the relay's
	# CPU for the recording, not the disk's.
	sed -i "1i recordings: \"file://$tmp/recordings\"" "$tmp/leadline.yaml"
	echo '    recording: { enabled: true, consent: announce, retention: 1d }' >>"$tmp/leadline.yaml"
fi

	echo "== leadline ($media RTP): $CALLS calls at $RATE/s, pinned to core $CORE; $(uptime)" >&2
	taskset -c "$CORE" env ${LEADLINE_GOMAXPROCS:+GOMAXPROCS=$LEADLINE_GOMAXPROCS} \
		"$tmp/leadline" serve --config "$tmp/leadline.yaml" --drain 1s >"$tmp/leadline-$media.log" 2>&1 &
	LL=$!
	pids+=("$LL")
	for _ in $(seq 100); do
		curl -fsS "http://127.0.0.1:$HTTP/readyz" >/dev/null 2>&1 && break
		kill -0 "$LL" 2>/dev/null || { cat "$tmp/leadline-$media.log" >&2; exit 1; }
		sleep 0.1
	done
	for side in agents customers; do
		if [[ $media == srtp ]]; then
			: >"$tmp/keys-$side.log"
			sippopts=(-set skey "$SKEY" -trace_logs -log_file "$tmp/keys-$side.log")
		fi
		if [[ $side == agents ]]; then
			RTPPORT=$AGENT_RTP run_sipp "agents-$media" "agent$scen.xml" "$AGENT_SIP" "$SIPP_MA" "${sippopts[@]}"
		else
			RTPPORT=$CUST_RTP run_sipp "customers-$media" "customer$scen.xml" "$CUST_SIP" "$SIPP_MC" "${sippopts[@]}"
		fi
	done
	sleep 0.5
	taskset -c "$TOOLCORE" "$tmp/rtpload" -mode leadline -api "http://127.0.0.1:$HTTP" -key "$KEY" \
		-calls "$CALLS" -rate "$RATE" -window "${WINDOW}s" -pid "$LL" -clk-tck "$(getconf CLK_TCK)" \
		-agent-port "$AGENT_RTP" -cust-port "$CUST_RTP" $PHONE "${toolopts[@]}" -json "$OUT" ${VERBOSE:+-v}
	echo "leadline log: $(grep -c 'level=ERROR' "$tmp/leadline-$media.log" || true) errors, $(grep -c 'level=WARN' "$tmp/leadline-$media.log" || true) warnings" >&2
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	# The next run takes the same ports: wait (10 s at most) for these to let them go.
	for _ in $(seq 100); do
		alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		(( alive )) || break
		sleep 0.1
	done
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	pids=()
	sleep 1
}

for media in $MEDIA; do
	run_leadline "$media"
done

if [[ -z $SKIP_RTPENGINE ]]; then
	if command -v rtpengine >/dev/null; then
		echo "== rtpengine (userspace, --table=-1): $CALLS calls at $RATE/s, pinned to core $CORE" >&2
		taskset -c "$CORE" rtpengine --foreground --log-stderr --log-level=4 --table=-1 \
			--interface=127.0.0.1 --listen-ng="127.0.0.1:$NG" --port-min=30000 --port-max=39999 \
			--pidfile="$tmp/rtpengine.pid" >"$tmp/rtpengine.log" 2>&1 &
		RE=$!
		pids+=("$RE")
		sleep 1
		taskset -c "$TOOLCORE" "$tmp/rtpload" -mode rtpengine -ng "127.0.0.1:$NG" \
			-calls "$CALLS" -rate "$RATE" -window "${WINDOW}s" -pid "$RE" -clk-tck "$(getconf CLK_TCK)" \
			-agent-port "$AGENT_RTP" -cust-port "$CUST_RTP" -json "$OUT"
	else
		echo "rtpengine not installed (apt-get install rtpengine-daemon): skipped" >&2
	fi
fi

echo
echo "results ($OUT):"
cat "$OUT"
[[ -n ${KEEP:-} ]] && echo "kept $tmp" >&2
exit 0
