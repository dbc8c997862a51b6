#!/usr/bin/env bash
# Measures the synchronous write rate of the disk that holds a directory:
# how many 4 KiB writes per second survive O_DSYNC, i.e. roughly how many
# fdatasync()s per second the disk can do. That is the ceiling for anything
# that must reach stable storage before it answers, such as a Raft log
# append or a bbolt commit.
#
#   scripts/fsync-rate.sh [DIR] [COUNT]
#
# DIR defaults to the repository's directory (put it on the disk where the
# data dir lives); COUNT defaults to 2000 writes, and the run stops early
# after MAX_SECONDS (default 30) on a very slow disk. The test file is
# removed afterwards.
set -euo pipefail
# dd's report is parsed below; keep it in English with a "." decimal point.
export LC_ALL=C

dir="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
count="${2:-2000}"
max_seconds="${MAX_SECONDS:-30}"

if [[ ! -d "$dir" ]]; then
	echo "fsync-rate: $dir is not a directory" >&2
	exit 2
fi
if ! [[ "$count" =~ ^[1-9][0-9]*$ ]]; then
	echo "fsync-rate: COUNT must be a positive integer, got '$count'" >&2
	exit 2
fi

file="$(mktemp "$dir/.fsync-rate.XXXXXX")"
out="$(mktemp)"
trap 'rm -f "$file" "$out"' EXIT

echo "directory:  $dir"
echo "filesystem: $(df -h --output=source,fstype,size,avail "$dir" | tail -n 1 | tr -s ' ')"
echo "command:    dd if=/dev/zero of=$file bs=4k count=$count oflag=dsync"

start=$(date +%s.%N)
# timeout sends SIGINT so dd still prints its statistics when cut short.
status=0
timeout --signal=INT "$max_seconds" \
	dd if=/dev/zero of="$file" bs=4k count="$count" oflag=dsync 2>"$out" || status=$?
end=$(date +%s.%N)

echo "dd says:"
sed 's/^/  /' "$out"
if [[ $status -ne 0 && $status -ne 124 && $status -ne 130 ]]; then
	echo "fsync-rate: dd failed (exit $status)" >&2
	exit 1
fi

# Records written: "N+0 records out" (full records) from dd's report.
written="$(sed -n 's/^\([0-9]*\)+[0-9]* records out$/\1/p' "$out" | tail -n 1)"
written="${written:-0}"
# dd's own elapsed time is the precise one; fall back to the wall clock.
secs="$(sed -n 's/.*copied, \([0-9.,e+-]*\) s,.*/\1/p' "$out" | tail -n 1 | tr , .)"
if [[ -z "$secs" ]]; then
	secs="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", b - a }')"
fi
awk -v n="$written" -v s="$secs" 'BEGIN {
	if (n == 0 || s <= 0) { print "fsync-rate: no writes completed"; exit 1 }
	printf "synchronous 4 KiB writes: %d in %.3f s = %.0f fsyncs/s (%.3f ms each)\n", n, s, n / s, 1000 * s / n
}'
