#!/usr/bin/env bash
# The mobility use case's KPI1 (seed §5.1: frames processed at the edge as
# fast as in the cloud): examples/mobility/ deployed with `cloudskin apply`
# on a continuum of an edge site and a cloud site; the detector's reported
# fps and per-second p95 latency (cloudskin_cell_qos, read back through the
# control plane's PromQL) over MOBILITY_SECONDS at the edge, then again
# after moving it live to the cloud.
#
# One machine plays both sites: the edge is a separate agent process held
# to EDGE_CPU of one core by a cgroup (as in compare-ndvi-migration.sh),
# near the camera (data source camera-1, 2 ms); the cloud is the agent
# inside `cloudskin up`, with both cores, 40 ms from the camera. The frame
# source stays at the edge (its requirement bounds the latency to the
# camera to 10 ms). Prints TSV rows: edge as "ours", cloud as "peer".
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/edge.sh
EDGE_CPU=${EDGE_CPU:-1}
SECONDS_PER_SITE=${MOBILITY_SECONDS:-20}
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
log() { echo "compare-mobility: $*" >&2; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server=http://127.0.0.1:$port
cat >"$work/continuum.yaml" <<YAML
apiVersion: cloudskin.io/v1alpha1
kind: Continuum
metadata: {name: mobility-bench}
spec:
  heartbeat: {interval: 500ms, notReadyAfter: 3s}
  sites:
    - name: cloud
      spec:
        type: cloud
        dataSources: [{name: camera-1, latency: 40ms}]
        capacity: {cores: 2, memory: 16Gi}
YAML
cat >"$work/edge.yaml" <<YAML
apiVersion: cloudskin.io/v1alpha1
kind: Site
metadata: {name: edge, labels: {tier: edge}}
spec:
  type: edge
  dataSources: [{name: camera-1, latency: 2ms}]
  capacity: {cores: 1, memory: 2Gi}
YAML
"$bin" up -f "$work/continuum.yaml" --listen "127.0.0.1:$port" --s3-listen 127.0.0.1:0 --stream-listen 127.0.0.1:0 --data "$work/state" --log-level warn >"$work/up.log" 2>&1 &
pids+=($!)
edge_note="pinned to core 0"
XDG_CACHE_HOME=$work/edge-cache taskset -c 0 "$bin" agent -f "$work/edge.yaml" --server "$server" --interval 500ms --listen 127.0.0.1:0 --log-level warn >"$work/edge.log" 2>&1 &
edge=$!
pids+=("$edge")
limit_edge "$edge" cloudskin-mobility-bench
log "edge: $edge_note"
wait_sites "$bin" "$server"
"$bin" apply -f examples/mobility/ --server "$server" >&2

# window NAME: waits MOBILITY_SECONDS, then prints the medians of the
# detector's per-second fps and latency_ms samples over that window.
window() {
	sleep "$SECONDS_PER_SITE"
	local end start
	end=$(date +%s)
	start=$((end - SECONDS_PER_SITE + 2))
	for m in fps latency_ms; do
		curl -s -G "$server/api/v1/query_range" --data-urlencode "query=cloudskin_cell_qos{component=\"detector\",metric=\"$m\"}" \
			--data-urlencode "start=$start" --data-urlencode "end=$end" --data-urlencode "step=1" |
			python3 -c '
import json, statistics, sys
r = json.load(sys.stdin)["data"]["result"]
vals = [float(v) for s in r for _, v in s["values"]]
print(statistics.median(vals) if vals else "nan")'
	done
}
for _ in $(seq 300); do
	"$bin" get app mobility --server "$server" 2>/dev/null | grep -q "2/2" && break
	sleep 0.2
done
sleep 5 # the detector catches up with frames made while it started
read -r fps_edge lat_edge < <(window | paste -sd' ')
out=$("$bin" migrate mobility/detector --to cloud --server "$server")
log "$out"
downtime=$(echo "$out" | sed -n 's/.*downtime \([0-9.]*\)\(ms\|µs\|s\).*/\1 \2/p')
sleep 5
read -r fps_cloud lat_cloud < <(window | paste -sd' ')
log "edge: fps $fps_edge, latency p95 $lat_edge ms; cloud: fps $fps_cloud, latency p95 $lat_cloud ms"

cmd="bench/compare-mobility.sh (examples/mobility, 640x360 at 30 fps; edge: $edge_note; ${SECONDS_PER_SITE} s per site)"
printf 'mobility detector fps, edge vs cloud (KPI1)\t%s\tcloud site\t%.1f fps\t%.1f fps\n' "$cmd" "$fps_edge" "$fps_cloud"
printf 'mobility detector latency p95, edge vs cloud\t%s\tcloud site\t%.1f ms\t%.1f ms\n' "$cmd" "$lat_edge" "$lat_cloud"
printf 'mobility detector live move edge→cloud, downtime\t%s\t—\t%s\t—\n' "$cmd" "$downtime"
