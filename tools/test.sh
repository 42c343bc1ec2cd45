#!/usr/bin/env bash
# The test command of sse-api (`make test`, and what .ci/run runs): checks that the tree is
# formatted, vetted and in step with sse.api, then runs every test with the race detector
# (the service's, then the tools module's check of deploy/kubernetes)
# against the real Redis at REDIS_ADDR (default 127.0.0.1:6379), starting a local
# redis-server when one is installed and none answers, and last the real-browser tests
# (browsertest/: Playwright driving Debian's headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

addr=${REDIS_ADDR:-127.0.0.1:6379}
host=${addr%:*}
port=${addr##*:}
if ! redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
	if command -v redis-server >/dev/null 2>&1; then
		echo "test: starting redis-server on port $port"
		redis-server --daemonize yes --port "$port" --save "" --appendonly no >/dev/null
		for _ in $(seq 50); do
			redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && break
			sleep 0.1
		done
	else
		echo "test: no Redis at $addr and no redis-server installed; tests use an embedded Redis" >&2
	fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt wants: $unformatted" >&2
	exit 1
fi
echo "== go vet"
go vet ./...
echo "== gen-check"
tools/gen.sh check
examples/chat-relay/gen.sh check
echo "== go test -race"
go test -race -count=1 ./...
echo "== the tools module: vet, and the Kubernetes manifests' check (tools/deploycheck)"
(cd tools && go vet ./... && go test -race -count=1 ./...)
echo "== fuzz the wire writer briefly"
go test -run='^$' -fuzz=FuzzWriteEvent -fuzztime=10s ./internal/ssewire/
echo "== browser tests (browsertest/, headless Chromium)"
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ] || ! command -v npm >/dev/null 2>&1; then
	# CI (SSE_REQUIRE_BROWSER=1) installs both and must not skip.
	if [ "${SSE_REQUIRE_BROWSER:-}" = 1 ]; then
		echo "test: no $chromium or no npm, and SSE_REQUIRE_BROWSER=1 forbids skipping the browser tests" >&2
		exit 1
	fi
	echo "*** test: SKIPPING the browser tests: they need $chromium and npm (apt-get install chromium nodejs npm) ***" >&2
	exit 0
fi
# The npm packages (playwright-core only) follow browsertest/package-lock.json, as go.sum is
# followed for Go: installed when missing or when the lockfile changed.
if [ ! -e browsertest/node_modules/.package-lock.json ] ||
	[ browsertest/package-lock.json -nt browsertest/node_modules/.package-lock.json ]; then
	(cd browsertest && npm ci --no-audit --no-fund)
fi
echo "== client library (node --test client/)"
node --test client/
CHROMIUM=$chromium node browsertest/run.mjs
