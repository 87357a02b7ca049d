#!/usr/bin/env bash
# Runs herald bench against Herald and each peer server, one at a time on
# this machine, and writes one JSON result (and an HTML plot) per server
# and scenario, plus a summary table.
#
#   bench/run-comparison.sh                       # fanout and latency, every server
#   SCENARIOS=fanout SERVERS="herald gosse" bench/run-comparison.sh
#   OUT=/tmp/cmp BENCH_ARGS="--subscribers 200 --updates 2000" bench/run-comparison.sh
#
# Environment:
#   SCENARIOS   scenarios to run, in order (default: "fanout latency"; also idle, overload)
#   SERVERS     any of herald gosse r3labs centrifuge (default: all four)
#   OUT         directory for the results (default: bench/results/<date>)
#   BENCH_ARGS  extra flags for every herald bench run (e.g. a smaller size)
#   HERALD_ARGS extra flags for herald serve
#
# Every server runs with its library's defaults (see bench/README.md for
# the few things each peer needs to serve the endpoint). Herald runs
# without tokens (--anonymous --insecure-publish-without-token), as the
# peers have no authorization at all. The figures that count are the
# server's own CPU and memory, read from /proc by herald bench --pid.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
SCENARIOS=${SCENARIOS:-"fanout latency"}
SERVERS=${SERVERS:-"herald gosse r3labs centrifuge"}
OUT=${OUT:-"$here/results/$(date -u +%Y%m%dT%H%M%SZ)"}
BENCH_ARGS=${BENCH_ARGS:-}
HERALD_ARGS=${HERALD_ARGS:-}

mkdir -p "$OUT"
bin=$(mktemp -d)
server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$bin"
}
trap cleanup EXIT

echo "building into $bin" >&2
(cd "$root" && go build -o "$bin/herald" ./cmd/herald)
(cd "$here" && go build -o "$bin/" ./cmd/peer-gosse ./cmd/peer-r3labs ./cmd/peer-centrifuge)

# start_server NAME LOG: starts a server on a free port; sets server_pid
# and hub (the endpoint URL).
start_server() {
	local name=$1 log=$2
	case "$name" in
	herald)
		# shellcheck disable=SC2086
		"$bin/herald" serve --addr 127.0.0.1:0 --anonymous --insecure-publish-without-token \
			--log-level warn $HERALD_ARGS >"$log" 2>&1 &
		;;
	gosse | r3labs | centrifuge)
		"$bin/peer-$name" -addr 127.0.0.1:0 >"$log" 2>&1 &
		;;
	*)
		echo "unknown server $name" >&2
		exit 2
		;;
	esac
	server_pid=$!
	hub=""
	for _ in $(seq 100); do
		hub=$(grep -o 'http://127\.0\.0\.1:[0-9]*/\.well-known/mercure' "$log" | head -1 || true)
		[[ -n "$hub" ]] && return 0
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "$name did not start:" >&2
	cat "$log" >&2
	exit 1
}

stop_server() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

for scenario in $SCENARIOS; do
	for name in $SERVERS; do
		echo "== $scenario: $name" >&2
		start_server "$name" "$OUT/$name-$scenario.server.log"
		# shellcheck disable=SC2086
		"$bin/herald" bench "$scenario" --hub "$hub" --anonymous --pid "$server_pid" \
			--json "$OUT/$name-$scenario.json" --plot "$OUT/$name-$scenario.html" \
			$BENCH_ARGS | tee "$OUT/$name-$scenario.txt"
		stop_server
		# Let the sockets of the last run leave TIME_WAIT's way.
		sleep 2
	done
done

# A table from the JSON results (python3 is optional).
if command -v python3 >/dev/null; then
	python3 - "$OUT" >"$OUT/summary.md" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(f))
    s = r.get("server") or {}
    d, l = r["delivery"], r["latency"]
    opt = lambda k, fmt: (fmt % s[k]) if s.get(k) else "-"
    rows.append("| %s | %s | %d | %d | %d | %d | %s | %.0f | %.1f / %.1f / %.1f | %.0f | %s | %s |" % (
        os.path.basename(f)[:-5].rsplit("-", 1)[0], r["scenario"], r["settings"]["subscribers"],
        d["received"], d["lost"], d["duplicated"],
        opt("deliveries_per_cpu_second", "%.0f"),
        d["per_second"], l.get("p50_ms", 0), l.get("p99_ms", 0), l.get("max_ms", 0),
        (s.get("rss_max_bytes", 0)) / 2**20,
        opt("kib_per_subscriber", "%.1f") if r["scenario"] == "idle" else "-",
        opt("cpu_per_heartbeat_us", "%.1f")))
print("| server | scenario | subscribers | delivered | lost | dup | deliveries / server CPU-s | deliveries/s (wall) | latency p50 / p99 / max ms | server RSS max MiB | idle KiB / subscriber | server µs / heartbeat |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
EOF
	cat "$OUT/summary.md"
fi
echo "results in $OUT" >&2
