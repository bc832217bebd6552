#!/usr/bin/env bash
# The Granny simulator at the issue's scale, each moving policy on against
# off (called by scripts/bench.sh). Prints TSV rows: benchmark, command,
# peer, median ours, median peer (one deterministic run each).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=bench/out/granny.tsv
mkdir -p bench/out
rm -f "$rows"
CLOUDSKIN_COMPARE_OUT=$PWD/$rows go test -count=1 -run TestCompareGranny ./granny >&2
cat "$rows"
