#!/bin/sh
# Builds the sse-api binary that the container image ships: static (no cgo, so it runs on a
# base image with no C library), without local paths or symbols, the same wherever it is
# built. The Dockerfile runs this script, and so does the smoke test (internal/smoke) that
# `make test` runs, so CI tests the binary the image holds.
#   tools/build-static.sh OUT
set -eu
out=${1:?usage: tools/build-static.sh OUT}
case "$out" in
/*) ;;
*) out="$(pwd)/$out" ;;
esac
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
exec go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out" .
