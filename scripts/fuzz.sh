#!/usr/bin/env bash
# Runs every Go fuzz target in the module, one after another.
#
#   scripts/fuzz.sh [-t FUZZTIME] [-s] [-o RESULTS] [REGEXP]
#
#   -t FUZZTIME  how long each target runs: a count of executions (20000x,
#                the default) or a duration (30s; see the Makefile on why
#                counts are safer)
#   -s           save each target's corpus of interesting inputs (go keeps
#                it in GOCACHE/fuzz) into its package's testdata/fuzz, where
#                plain `go test` replays it
#   -o RESULTS   append one tab-separated line per target: package, target,
#                elapsed, executions, corpus size, result
#   REGEXP       run only the targets whose name matches (grep -E)
#
# It stops at the first failing target; go has then written the failing
# input to the package's testdata/fuzz/<target>, and `go test -run <target>`
# replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=20000x save=0 results=/dev/null only=.
while getopts 't:so:' opt; do
	case $opt in
	t) fuzztime=$OPTARG ;;
	s) save=1 ;;
	o) results=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ $# -gt 0 ]] && only=$1

module=$(go list -m)
cache=$(go env GOCACHE)/fuzz
mapfile -t files < <(grep -rl --include='*_test.go' --exclude-dir=.git '^func Fuzz' . | sort)
for f in "${files[@]}"; do
	dir=$(dirname "${f#./}")
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		grep -Eq "$only" <<<"$name" || continue
		echo "== ./$dir $name ($fuzztime)"
		log=$(mktemp)
		start=$(date +%s)
		status=ok
		# go runs GOMAXPROCS workers by default.
		go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "./$dir" >"$log" 2>&1 || status=FAIL
		grep -v '^fuzz: elapsed' "$log" || true
		elapsed=$(($(date +%s) - start))
		execs=$(sed -n 's/.*execs: \([0-9]*\).*/\1/p' "$log" | tail -1)
		corpus_dir=$cache/$module/$dir/$name
		corpus=0
		[[ -d $corpus_dir ]] && corpus=$(find "$corpus_dir" -type f | wc -l)
		echo "   $name: ${execs:-0} executions in ${elapsed}s, corpus $corpus, $status"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "./$dir" "$name" "$elapsed" "${execs:-0}" "$corpus" "$status" >>"$results"
		if [[ $save == 1 && -d $corpus_dir ]]; then
			mkdir -p "$dir/testdata/fuzz/$name"
			cp -n "$corpus_dir"/* "$dir/testdata/fuzz/$name/" 2>/dev/null || true
		fi
		rm -f "$log"
		[[ $status == ok ]] || exit 1
	done
done
