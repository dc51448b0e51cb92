#!/usr/bin/env bash
# Measures `meshgate check` on the generated 10,000-object corpus: wall time, CPU
# and peak memory (the target: under 1 s on 2 cores, under 200 MiB).
# Usage: hack/bench-check.sh [OBJECTS] [RUNS]     (defaults: 10000 objects, 5 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
objects="${1:-10000}"
runs="${2:-5}"
corpus=bin/bench-corpus

go build -o bin/meshgate ./cmd/meshgate
go run ./hack/bench-corpus -n "$objects" -o "$corpus"
echo "files: $(find "$corpus" -type f | wc -l), bytes: $(du -sb "$corpus" | cut -f1)" >&2

# Warm the page cache once, then measure.
bin/meshgate check -f "$corpus" -o json >/dev/null || true
if command -v hyperfine >/dev/null; then
	hyperfine --warmup 1 --runs "$runs" -i "bin/meshgate check -f $corpus -o json > /dev/null"
fi
for _ in $(seq "$runs"); do
	# Exit code 1 is expected: the corpus holds enforce findings.
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -q -f "wall %es  user %Us  sys %Ss  peak RSS %MKB" \
			bin/meshgate check -f "$corpus" -o json >/dev/null || [ $? -eq 1 ]
	else
		echo "(/usr/bin/time missing: apt-get install time for peak memory)" >&2
		TIMEFORMAT="wall %Rs  user %Us  sys %Ss"
		time (bin/meshgate check -f "$corpus" -o json >/dev/null || [ $? -eq 1 ])
	fi
done
