#!/usr/bin/env bash
# GEDS against MinIO alone, side by side in one run (called by
# scripts/bench.sh): 4 KiB and 1 MiB reads (local mmap, remote peer, MinIO
# GET; p50 and p99), a 16×64×1 MiB all-to-all shuffle, spill throughput
# against MinIO's own PUT throughput, and the cost of background spilling
# to a read-heavy workload (KPI8). TestCompareGEDS in ./geds; bench/NOTES.md
# says how each row is measured.
# Needs .tools/bin/minio (scripts/install-deps.sh).
# Prints TSV rows: benchmark, command, peer, median ours, median peer.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=bench/out/geds.tsv
mkdir -p bench/out
rm -f "$rows"
[ -x "${CLOUDSKIN_MINIO:-.tools/bin/minio}" ] || { echo "compare-geds: no MinIO at ${CLOUDSKIN_MINIO:-.tools/bin/minio}; run scripts/install-deps.sh" >&2; exit 1; }
CLOUDSKIN_COMPARE_OUT=$PWD/$rows go test -count=1 -timeout 10m -run TestCompareGEDS -v ./geds >&2
cat "$rows"
