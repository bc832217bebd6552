#!/usr/bin/env bash
# The agriculture use case's migration KPI (seed ucKPI4: moving must beat
# not moving, and beat re-executing): a maximum-value NDVI composite over a
# time series (examples/ndvi/ndvi-composite.c, an MPI world of 2 cells) is
# started at a small edge site and moved, while it runs, to the cloud site.
#
# On one machine the edge is emulated: its agent is a separate process
# held to EDGE_CPU of one core by a cgroup (cpu.cfs_quota_us, cgroup v1 or
# cpu.max, v2) and pinned to core 0; the cloud site is the agent inside
# `cloudskin up`, with both cores. Without a writable cgroup the edge is
# only pinned to one core, and the rows say so.
#
# Prints TSV rows (benchmark, command, peer, median ours, median peer), for
# each fraction f in NDVI_MOVES of the edge-only time at which the job is
# moved: moved vs staying at the edge; moved vs re-executing at the cloud
# from the start at that moment (the f of the edge time already spent plus
# a cloud-only run). Moving beats re-executing only when the move costs
# less than the cloud would take to redo the work done at the edge.
# Every run's composite is compared bit for bit with the others.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/edge.sh
SIZE=${NDVI_SIZE:-2048}
DATES=${NDVI_DATES:-96}
RANKS=2
EDGE_CPU=${EDGE_CPU:-0.25}
MOVES=${NDVI_MOVES:-0.25 0.5}
RUNS=${NDVI_RUNS:-3}
bin=$PWD/bin/cloudskin
work=$(mktemp -d)
pids=()
cgroup=""
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "$cgroup" ] && rmdir "$cgroup" 2>/dev/null || true
	[ -n "${KEEP_WORK:-}" ] && log "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
log() { echo "compare-ndvi-migration: $*" >&2; }
now() { date +%s.%N; }

# Eight synthetic scenes, cycled into a series of DATES dates.
mkdir -p "$work/data"
series=()
for i in $(seq 1 8); do
	"$bin" raster generate "$SIZE" "$SIZE" "$i" "$work/data/red$i.csr" "$work/data/nir$i.csr"
done
for d in $(seq 0 $((DATES - 1))); do
	i=$((d % 8 + 1))
	series+=("/data/red$i.csr" "/data/nir$i.csr")
done
"$bin" cell cc -O3 --migratable examples/ndvi/ndvi-composite.c -o "$work/composite.wasm" >&2

# The continuum: `up` with only the cloud site, and an edge agent apart.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server=http://127.0.0.1:$port
cat >"$work/continuum.yaml" <<EOF
apiVersion: cloudskin.io/v1alpha1
kind: Continuum
metadata:
  name: ndvi-bench
spec:
  heartbeat:
    interval: 500ms
    notReadyAfter: 3s
  sites:
    - name: cloud
      spec:
        type: cloud
        capacity: {cores: 2, memory: 16Gi, disk: 100Gi}
EOF
"$bin" up -f "$work/continuum.yaml" --listen "127.0.0.1:$port" --s3-listen 127.0.0.1:0 --stream-listen 127.0.0.1:0 --data "$work/state" --log-level warn >"$work/up.log" 2>&1 &
pids+=($!)
edge_note="pinned to core 0"
XDG_CACHE_HOME=$work/edge-cache taskset -c 0 "$bin" agent --server "$server" --name edge --type edge --cores 1 --interval 500ms --listen 127.0.0.1:0 --log-level warn >"$work/edge.log" 2>&1 &
edge=$!
pids+=("$edge")
limit_edge "$edge" cloudskin-edge-bench
log "edge: $edge_note"
wait_sites "$bin" "$server"

submit() { # site out.csr -> runs in the background, prints nothing
	"$bin" cell mpirun -n "$RANKS" --server "$server" --site "$1" --dir "$work/data:/data" \
		"$work/composite.wasm" "/data/$2" "${series[@]}" >"$work/$2.log" 2>&1
}
running_at_edge() { # the name of the run Running at the edge, once there is one
	for _ in $(seq 600); do
		name=$("$bin" get cells --server "$server" -o json | python3 -c '
import json, sys
runs = [c for c in json.load(sys.stdin)["items"] if c.get("status", {}).get("phase") == "Running" and c.get("status", {}).get("site") == "edge"]
print(runs[0]["metadata"]["name"] if runs else "")')
		[ -n "$name" ] && { echo "$name"; return; }
		sleep 0.05
	done
	log "no run started at the edge"
	exit 1
}

declare -A moved reexec
times_edge=() times_cloud=()
for r in $(seq 1 "$RUNS"); do
	t0=$(now); submit edge "edge$r.csr"; t1=$(now)
	edge_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	times_edge+=("$edge_s")
	t0=$(now); submit cloud "cloud$r.csr"; t1=$(now)
	cloud_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	times_cloud+=("$cloud_s")
	"$bin" raster diff "$work/data/edge$r.csr" "$work/data/cloud$r.csr" >&2
	for f in $MOVES; do
		wait_s=$(awk -v e="$edge_s" -v f="$f" 'BEGIN { print e * f }')
		t0=$(now)
		submit edge "moved$r-$f.csr" &
		job=$!
		name=$(running_at_edge)
		sleep "$(awk -v w="$wait_s" -v a="$t0" -v b="$(now)" 'BEGIN { d = w - (b - a); print (d > 0 ? d : 0) }')"
		"$bin" cell migrate --server "$server" "$name" --to cloud >>"$work/migrate.log" 2>&1
		wait "$job"
		t1=$(now)
		moved_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
		moved[$f]+="$moved_s "
		reexec[$f]+="$(awk -v w="$wait_s" -v c="$cloud_s" 'BEGIN { print w + c }') "
		"$bin" raster diff "$work/data/edge$r.csr" "$work/data/moved$r-$f.csr" >&2
		log "run $r: edge $edge_s s, cloud $cloud_s s, moved at $wait_s s: $moved_s s ($(tail -n 1 "$work/migrate.log"))"
	done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.2f s", m }'; }
cmd="bench/compare-ndvi-migration.sh (${SIZE}x${SIZE}, $DATES dates, $RANKS ranks; edge: $edge_note)"
for f in $MOVES; do
	# shellcheck disable=SC2086 # the lists are space-separated on purpose
	printf 'ndvi-composite edge→cloud, moved at %s of the edge time\t%s\tstaying at the edge\t%s\t%s\n' "$f" "$cmd" "$(median ${moved[$f]})" "$(median "${times_edge[@]}")"
	# shellcheck disable=SC2086
	printf 'ndvi-composite edge→cloud, moved at %s vs re-executed at the cloud\t%s\tre-executing at the cloud from the start\t%s\t%s\n' "$f" "$cmd" "$(median ${moved[$f]})" "$(median ${reexec[$f]})"
done
printf 'ndvi-composite at the cloud only (reference)\t%s\t—\t%s\t—\n' "$cmd" "$(median "${times_cloud[@]}")"
