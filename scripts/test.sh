#!/usr/bin/env bash
# Runs Herald's whole test suite: vet, formatting, every package under the
# race detector (with goroutine-leak checks in the suites that start
# servers), integration tests against real redis-server, NATS (embedded),
# nginx and headless Chromium, and a short run of every fuzz target.
#
# Missing servers are installed with apt-get when running as root. Without
# CI=true a server that is still missing makes its tests skip with a loud
# reason; with CI=true it makes them fail.
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
	else
		echo "!! MISSING: ${missing[*]} — their integration tests will be skipped (and fail with CI=true)." >&2
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

if [ -f bench/go.mod ]; then
	echo "== bench module (peers for the comparison): build and vet"
	(cd bench && go vet ./...)
fi

echo "== fuzz targets, $fuzztime each"
for file in $(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go'); do
	for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		pkg="./$(dirname "$file")"
		echo "-- $pkg $name"
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
	done
done

echo "== all tests passed"
