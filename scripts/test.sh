#!/usr/bin/env bash
# Runs Herald's whole test suite: vet, formatting, every package under the
# race detector (with goroutine-leak checks in the suites that start
# servers), integration tests against real redis-server, NATS (embedded),
# nginx and headless Chromium, a second run without the race detector of
# the packages whose tests skip under it (allocation counts), and a short
# run of every fuzz target.
#
# Missing servers are installed with apt-get when running as root. Without
# CI=true a server that is still missing makes its tests skip with a loud
# reason; with CI=true the script fails before testing (and the tests
# themselves fail, never skip, when a server is missing).
#
# Environment: FUZZTIME (default 5s per fuzz target), TEST_TIMEOUT (30m).
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:/usr/sbin:/sbin"
fuzztime=${FUZZTIME:-5s}
timeout=${TEST_TIMEOUT:-30m}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || missing+=(nginx)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "== installing ${missing[*]}"
		apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
		still=()
		for bin in "${missing[@]}"; do
			command -v "$bin" >/dev/null || still+=("$bin")
		done
		missing=(${still[@]+"${still[@]}"})
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		if [ "${CI:-}" = true ]; then
			echo "!! MISSING: ${missing[*]} — CI=true needs every server (run as root to install them)." >&2
			exit 1
		fi
		echo "!! MISSING: ${missing[*]} — their integration tests will be SKIPPED." >&2
	fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bench/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -timeout "$timeout" ./...

# Tests that skip themselves under the race detector (allocation counts:
# packages with a race / !race build-tagged test file) would otherwise never
# run: those packages run once more without it.
norace=$( (git grep -lE '^//go:build.*\brace\b' -- '*_test.go' ':!bench' 2>/dev/null || true) | xargs -r -n1 dirname | sort -u | sed 's|^|./|')
if [ -n "$norace" ]; then
	echo "== go test (no race detector) for the tests it skips:" $norace
	go test -count=1 -timeout "$timeout" $norace
fi

if [ -f bench/go.mod ]; then
	echo "== bench module (peers for the comparison): build and vet"
	(cd bench && go vet ./...)
fi

echo "== fuzz targets, $fuzztime each"
for file in $(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go'); do
	for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		dir=$(dirname "$file")
		echo "-- ./$dir $name"
		# From the package's directory, so that a nested module (bench/)
		# is tested in its own module.
		(cd "$dir" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" .)
	done
done

echo "== all tests passed"
