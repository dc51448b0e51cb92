#!/usr/bin/env bash
# Times `meshgate check -o json` on generated corpora of 1,000, 10,000 and 100,000
# objects: wall time, CPU (user + sys) and peak RSS, the median of RUNS runs each.
# With -b REV it also builds meshgate from git revision REV and alternates the two
# binaries run by run, so that both see the same machine load; compare the medians.
#
# Usage: hack/bench-check.sh [-r RUNS] [-s "SIZES"] [-b REV]
#   -r RUNS   runs per binary and size (default 5)
#   -s SIZES  corpus sizes in objects (default "1000 10000 100000")
#   -b REV    a git revision to compare with (e.g. main, HEAD~3)
# Bounded: at most RUNS x sizes x 2 runs; the 100,000-object corpus is ~87 MB of
# YAML under bin/bench-corpus-100000 and takes a few seconds per run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
sizes="1000 10000 100000"
base=""
while getopts "r:s:b:" opt; do
	case "$opt" in
	r) runs="$OPTARG" ;;
	s) sizes="$OPTARG" ;;
	b) base="$OPTARG" ;;
	*) sed -n '2,10p' "$0" >&2; exit 2 ;;
	esac
done
if [ ! -x /usr/bin/time ]; then
	echo "bench-check: /usr/bin/time is missing (apt-get install time)" >&2
	exit 2
fi

mkdir -p bin
go build -o bin/meshgate ./cmd/meshgate
bins=(bin/meshgate)
names=(HEAD)
if [ -n "$base" ]; then
	src=$(mktemp -d)
	trap 'rm -rf "$src"' EXIT
	git archive "$base" | tar -x -C "$src"
	(cd "$src" && go build -o bin/meshgate ./cmd/meshgate)
	cp "$src/bin/meshgate" bin/meshgate-base
	bins=(bin/meshgate-base bin/meshgate)
	names=("$base" HEAD)
fi

# median prints the median of the numbers on standard input.
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $sizes; do
	corpus="bin/bench-corpus-$n"
	if [ ! -f "$corpus/.objects-$n" ]; then
		go run ./hack/bench-corpus -n "$n" -o "$corpus"
		touch "$corpus/.objects-$n"
	fi
	echo
	echo "== $n objects: $(find "$corpus" -name '*.yaml' | wc -l) files, $(du -sb --exclude='.objects-*' "$corpus" | cut -f1) bytes"
	# Warm the page cache once per binary.
	for b in "${bins[@]}"; do "$b" check -f "$corpus" -o json >/dev/null || true; done
	results=$(mktemp)
	for r in $(seq "$runs"); do
		for i in "${!bins[@]}"; do
			# Exit code 1 is expected: the corpus holds enforce findings.
			/usr/bin/time -o "$results.one" -f "%e %U %S %M" "${bins[$i]}" check -f "$corpus" -o json >/dev/null || [ $? -eq 1 ]
			# time -o also writes "Command exited with non-zero status 1".
			tail -n 1 "$results.one" | sed "s/^/$i /" >>"$results"
			echo "  run $r ${names[$i]}: $(tail -n 1 "$results.one" | awk '{printf "wall %ss  user %ss  sys %ss  peak RSS %d MiB", $1, $2, $3, $4 / 1024}')"
		done
	done
	for i in "${!bins[@]}"; do
		wall=$(awk -v i="$i" '$1 == i {print $2}' "$results" | median)
		cpu=$(awk -v i="$i" '$1 == i {print $3 + $4}' "$results" | median)
		rss=$(awk -v i="$i" '$1 == i {print $5 / 1024}' "$results" | median)
		printf "  median %-8s wall %.2fs  CPU %.2fs  peak RSS %.0f MiB  (%d runs)\n" "${names[$i]}" "$wall" "$cpu" "$rss" "$runs"
	done
	rm -f "$results" "$results.one"
done
