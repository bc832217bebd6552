#!/usr/bin/env bash
# The stream store against NATS JetStream, side by side in one run (called
# by scripts/bench.sh), ours twice: through its HTTP API and through its TCP
# protocol (stream/tcp), each a row against the same JetStream run:
# durable publish throughput and p50 latency with acknowledgements, 1 KiB
# events, 1 and 16 concurrent publishers, all servers on loopback
# (TestCompareStreams in stream/streamapi); and video frames of 100 KiB and
# 250 KiB paced at 30 fps per stream, 1, 4 and 16 streams, each with a tail
# reader: durable append p50/p95/p99 and end-to-end p50/p95
# (TestCompareFrames, one run of $FRAMES_SECONDS seconds, default 15, per
# configuration and system, so that a p99 rests on 450 frames a stream;
# about 5 minutes in all).
# Durability: our store acknowledges an append after fdatasync of the log
# (group commit); JetStream uses file storage with sync_interval: always.
# Needs .tools/bin/nats-server (scripts/install-deps.sh).
# Prints TSV rows: benchmark, command, peer, median ours, median peer
# (medians of $BENCH_RUNS runs of $BENCH_SECONDS seconds each).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=bench/out/streams.tsv
mkdir -p bench/out
rm -f "$rows"
[ -x .tools/bin/nats-server ] || { echo "compare-streams: no .tools/bin/nats-server; run scripts/install-deps.sh" >&2; exit 1; }
CLOUDSKIN_COMPARE_OUT=$PWD/$rows \
	CLOUDSKIN_COMPARE_RUNS=${BENCH_RUNS:-3} \
	CLOUDSKIN_COMPARE_SECONDS=${BENCH_SECONDS:-3} \
	CLOUDSKIN_FRAMES_SECONDS=${FRAMES_SECONDS:-15} \
	go test -count=1 -run '^TestCompare(Streams|Frames)$' -v ./stream/streamapi >&2
cat "$rows"
