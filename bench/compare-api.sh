#!/usr/bin/env bash
# The control plane's API against kube-apiserver under 200 concurrent
# clients, side by side in one run (called by scripts/bench.sh):
# TestCompareAPILoad in ./orchestrator. Each server holds 100 objects of
# about the same size (our applications, its ConfigMaps); 200 closed-loop
# clients, each on its own keep-alive HTTP/1.1 connection, GET one object
# chosen at random, then (separately) LIST all 100, for $BENCH_SECONDS
# seconds (default 5) after 1 s of warm-up; p50, p99, throughput and the
# server's CPU per request, medians of $BENCH_RUNS runs (default 3).
# Both servers check a bearer token; kube-apiserver is reached over TLS
# (it serves nothing else), ours over plain HTTP as `cloudskin up` serves.
# Everything is on loopback; about 80 s with the defaults.
# Needs .tools/bin/kube-apiserver (scripts/install-kube.sh) and Debian's
# etcd (/usr/bin/etcd, package etcd-server); $CLOUDSKIN_KUBE_APISERVER and
# $CLOUDSKIN_ETCD override the paths, as in internal/kubetest.
# Prints TSV rows: benchmark, command, peer, median ours, median peer.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=bench/out/api.tsv
mkdir -p bench/out
rm -f "$rows"
apiserver=${CLOUDSKIN_KUBE_APISERVER:-.tools/bin/kube-apiserver}
etcd=${CLOUDSKIN_ETCD:-/usr/bin/etcd}
[ -x "$apiserver" ] || { echo "compare-api: no $apiserver; run scripts/install-kube.sh (or make deps)" >&2; exit 1; }
[ -x "$etcd" ] || { echo "compare-api: no $etcd; install Debian's etcd-server (scripts/install-kube.sh) or set CLOUDSKIN_ETCD" >&2; exit 1; }
CLOUDSKIN_COMPARE_OUT=$PWD/$rows \
	CLOUDSKIN_COMPARE_RUNS=${BENCH_RUNS:-3} \
	CLOUDSKIN_COMPARE_SECONDS=${BENCH_SECONDS:-5} \
	go test -count=1 -timeout 30m -run '^TestCompareAPILoad$' -v ./orchestrator >&2
[ -s "$rows" ] || { echo "compare-api: TestCompareAPILoad wrote no rows (skipped?); see its output above" >&2; exit 1; }
cat "$rows"
