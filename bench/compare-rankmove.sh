#!/usr/bin/env bash
# Moving one rank of a running MPI world to another process over loopback
# TCP (cell migrate --rank; called by scripts/bench.sh): the rank's
# downtime with 1, 64 and 512 MiB of heap that does not compress, against
# sending the same bytes once over loopback TCP, and an 8-byte ping-pong's
# round trip once one side moved, against both ranks in one process.
# Medians of 3 runs (1 at 512 MiB). Prints TSV rows: benchmark, command,
# peer, median ours, median peer.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=bench/out/rankmove.tsv
mkdir -p bench/out
rm -f "$rows"
CLOUDSKIN_COMPARE_OUT=$PWD/$rows go test -count=1 -timeout 20m -run TestCompareRankMove ./cell >&2
cat "$rows"
