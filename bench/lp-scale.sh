#!/usr/bin/env bash
# Predictive autoscaling against the Kubernetes HPA rule (learning/autoscale):
# replays every trace through `cloudskin lp scale simulate` with one service
# and one policy configuration, and prints TSV rows in the format of the
# bench/compare-*.sh scripts: benchmark, command, peer (the HPA rule),
# ours (predictive:holt-winters), peer's value. One deterministic run each.
#
# Traces: three GENERATED minute-level traces (two weeks, seed 1) and the
# three REAL Prophet example series in ../shared/data/traces (daily or
# monthly; each row is replayed as one minute, rescaled to a mean of
# 100 req/s). Real traces are skipped when the data is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bench/out/cloudskin-lp-scale
mkdir -p bench/out
go build -o "$bin" ./cmd/cloudskin
traces=${CLOUDSKIN_TRACES:-../shared/data/traces}
service=(--capacity 10 --startup 2m --interval 15s --policies hpa,keda,predictive:holt-winters,predictive:seasonal-naive)

# row NAME JSON COMMAND: two rows (violation minutes, replica-hours) for
# predictive:holt-winters against hpa.
row() {
	local name=$1 json=$2 cmd=$3
	jq -r --arg name "$name" --arg cmd "$cmd" '
		(.results[] | select(.policy == "hpa")) as $h |
		(.results[] | select(.policy == "predictive:holt-winters")) as $p |
		"Autoscaling, \($name): SLO-violation minutes\t\($cmd)\tKubernetes HPA rule\t\($p.sloViolationMinutes) min\t\($h.sloViolationMinutes) min",
		"Autoscaling, \($name): replica-hours\t\($cmd)\tKubernetes HPA rule\t\($p.replicaHours * 10 | round / 10) h\t\($h.replicaHours * 10 | round / 10) h"
	' <<<"$json"
}

for g in operating-room road-camera serverless-bursty; do
	args=(--generate "$g:14" "${service[@]}")
	echo "bench: lp scale simulate ${args[*]}" >&2
	json=$("$bin" lp scale simulate "${args[@]}" -o json)
	row "$g (generated, 14 days at 15 s)" "$json" "cloudskin lp scale simulate ${args[*]}"
done

for f in example_wp_log_peyton_manning example_pedestrians_covid example_retail_sales; do
	[ -f "$traces/$f.csv" ] || { echo "bench: $traces/$f.csv absent, skipped" >&2; continue; }
	args=(--input "$traces/$f.csv" --step 1m --mean 100 "${service[@]}")
	echo "bench: lp scale simulate ${args[*]}" >&2
	json=$("$bin" lp scale simulate "${args[@]}" -o json 2>/dev/null)
	row "$f (real, one row per minute)" "$json" "cloudskin lp scale simulate ${args[*]/#$traces\//}"
done
