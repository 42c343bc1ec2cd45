#!/usr/bin/env bash
# Generates the goctl code of sse-api from sse.api and the templates in tpl/, in a scratch
# copy of the tree, so both uses below see exactly what goctl makes from a clean start:
#   tools/gen.sh        install it: generated files (internal/handler, internal/types/types.go) are
#                       replaced, logic scaffolds are added for new routes only
#   tools/gen.sh check  fail if the generated files in the tree differ from a fresh run
set -euo pipefail
mode=${1:-gen}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cp "$root/go.mod" "$root/sse.api" "$scratch/"
cp -r "$root/tpl" "$scratch/"
(cd "$scratch" && go tool -modfile="$root/tools/go.mod" goctl api go --api sse.api --dir . --home tpl >/dev/null)

# Generated files; internal/types also holds hand-written files beside types.go.
generated=(internal/handler internal/types/types.go)
case "$mode" in
check)
	status=0
	for d in "${generated[@]}"; do
		diff -ru "$scratch/$d" "$root/$d" || status=1
	done
	if [ $status -ne 0 ]; then
		echo "gen-check: generated code is out of step with sse.api or tpl/; run 'make gen'" >&2
	fi
	exit $status
	;;
gen)
	for d in "${generated[@]}"; do
		rm -rf "${root:?}/$d"
		mkdir -p "$(dirname "$root/$d")"
		cp -r "$scratch/$d" "$root/$d"
	done
	# Logic and middlewares are hand-written after their first scaffold: add files for new
	# routes and middlewares only.
	(cd "$scratch" && find internal/logic internal/middleware -name "*.go" 2>/dev/null) | while read -r f; do
		if [ ! -e "$root/$f" ]; then
			mkdir -p "$root/$(dirname "$f")"
			cp "$scratch/$f" "$root/$f"
			echo "scaffolded $f"
		fi
	done
	;;
*)
	echo "usage: $0 [check]" >&2
	exit 2
	;;
esac
