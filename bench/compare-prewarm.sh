#!/usr/bin/env bash
# The hybrid histogram pre-warming policy (Shahrad et al., ATC'20) against a
# fixed 10-minute keep-alive, replaying the Azure Functions 2019 sample in
# ../shared/data (called by scripts/bench.sh). Prints TSV rows: benchmark,
# command, peer, median ours, median peer (one deterministic run each).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=bench/out/prewarm.tsv
mkdir -p bench/out
rm -f "$rows"
CLOUDSKIN_COMPARE_OUT=$PWD/$rows go test -count=1 -run TestComparePrewarm ./learning/prewarm >&2
cat "$rows"
