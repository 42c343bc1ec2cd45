#!/usr/bin/env bash
# Generates chat-relay's goctl code from chat.api with goctl's stock templates and the
# goctl pinned in tools/go.mod, in a scratch copy, as tools/gen.sh does for sse-api:
#   examples/chat-relay/gen.sh        install it: internal/handler and internal/types are
#                                     replaced; scaffolds (logic, middleware, svc, config,
#                                     main) are added only where missing
#   examples/chat-relay/gen.sh check  fail if the generated files differ from a fresh run
set -euo pipefail
mode=${1:-gen}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# goctl takes import paths from the go.mod above the output folder: the example is a
# package of sse-api's module.
mkdir -p "$scratch/examples/chat-relay"
cp "$root/go.mod" "$scratch/"
cp "$here/chat.api" "$scratch/examples/chat-relay/"
(cd "$scratch/examples/chat-relay" &&
	go tool -modfile="$root/tools/go.mod" goctl api go --api chat.api --dir . >/dev/null)
out=$scratch/examples/chat-relay

generated=(internal/handler internal/types)
case "$mode" in
check)
	status=0
	for d in "${generated[@]}"; do
		diff -ru "$out/$d" "$here/$d" || status=1
	done
	if [ $status -ne 0 ]; then
		echo "gen-check: chat-relay's generated code is out of step with chat.api; run 'make gen'" >&2
	fi
	exit $status
	;;
gen)
	for d in "${generated[@]}"; do
		rm -rf "${here:?}/$d"
		cp -r "$out/$d" "$here/$d"
	done
	(cd "$out" && find . -name "*.go" | sed 's|^\./||') | while read -r f; do
		if [ ! -e "$here/$f" ]; then
			mkdir -p "$here/$(dirname "$f")"
			cp "$out/$f" "$here/$f"
			echo "scaffolded examples/chat-relay/$f"
		fi
	done
	;;
*)
	echo "usage: $0 [check]" >&2
	exit 2
	;;
esac
