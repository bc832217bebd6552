#!/usr/bin/env bash
# Predictive autoscaling against the Kubernetes HPA rule (learning/autoscale),
# called by scripts/bench.sh. Replays every trace through `cloudskin lp scale
# simulate` with one service and the predictive policy's defaults, and prints
# TSV rows in the format of the bench/compare-*.sh scripts: benchmark,
# command, peer (the HPA rule), ours (predictive:seasonal-naive, the
# policy's default model), peer's value. One deterministic run each. It also
# writes the full results, every policy run on every trace, as a Markdown
# table to bench/out/lp-scale.md (the tables of docs/LEARNING.md) and the JSON of
# each run under bench/out/lp-scale/.
#
# Traces: the GENERATED minute-level traces (two weeks each) with seed 1
# (the tuning set the policy's defaults were chosen on) and seeds 2 and 3
# (held out), and the three REAL Prophet example series in
# ../shared/data/traces (daily or monthly; each row is replayed as one
# minute, rescaled to a mean of 100 req/s; held out; skipped when absent).
# Two other models run on the real traces only, as extra rows of the
# table: predictive:holt-winters (about 3 s a trace there, but 30 s a
# two-week generated trace, eight times the rest of that run together, and
# already known to lose to seasonal-naive on them: docs/LEARNING.md) and
# predictive:gru (learning/forecast's recurrent network; refitted at every
# model step it is too slow for the generated traces). Needs jq. About 2½
# minutes on 2 cores, most of it the network.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bench/out/cloudskin-lp-scale
out=bench/out/lp-scale
mkdir -p "$out"
go build -o "$bin" ./cmd/cloudskin
traces=${CLOUDSKIN_TRACES:-../shared/data/traces}
service=(--capacity 10 --startup 2m --interval 15s)
ours=predictive:seasonal-naive
policies=hpa,keda,$ours
real_policies=$policies,predictive:holt-winters
md=bench/out/lp-scale.md

# row NAME JSON COMMAND: two TSV rows (violation minutes, replica-hours) for
# $ours against hpa.
row() {
	jq -r --arg name "$1" --arg cmd "$3" --arg ours "$ours" '
		(.results[] | select(.policy == "hpa")) as $h |
		(.results[] | select(.policy == $ours)) as $p |
		"Autoscaling, \($name): SLO-violation minutes, \($ours)\t\($cmd)\tKubernetes HPA rule\t\($p.sloViolationMinutes) min\t\($h.sloViolationMinutes) min",
		"Autoscaling, \($name): replica-hours, \($ours)\t\($cmd)\tKubernetes HPA rule\t\($p.replicaHours * 10 | round / 10) h\t\($h.replicaHours * 10 | round / 10) h"
	' "$2"
}

# table NAME SET JSON: one Markdown row per policy.
table() {
	jq -r --arg name "$1" --arg set "$2" '
		(.results[] | select(.policy == "hpa")) as $h |
		.results[] |
		def pct(a; b): if b == 0 then (if a == 0 then "—" else "+∞" end) else ((100 * (a / b - 1)) | round | tostring) + " %" end;
		"| \($name) | \($set) | \(.policy) | \(.sloViolationMinutes) | \(pct(.sloViolationMinutes; $h.sloViolationMinutes)) | \(.replicaHours * 10 | round / 10) | \(pct(.replicaHours; $h.replicaHours)) | \(.scalingEvents) | \(.coldStarts) |"
	' "$3" >>"$md"
}

{
	echo "| trace | set | policy | violation min | Δ viol. vs hpa | replica-h | Δ cost vs hpa | scaling events | cold starts |"
	echo "|---|---|---|---|---|---|---|---|---|"
} >"$md"

# Run the generated traces two at a time: each takes ~4 s.
run_generated() {
	local g=$1 seed=$2
	"$bin" lp scale simulate --generate "$g:14" --seed "$seed" "${service[@]}" --policies "$policies" -o json >"$out/$g-seed$seed.json"
}
jobs=()
for seed in 1 2 3; do
	for g in operating-room road-camera serverless-bursty; do
		echo "bench: lp scale simulate --generate $g:14 --seed $seed" >&2
		run_generated "$g" "$seed" &
		jobs+=($!)
		if [ ${#jobs[@]} -ge 2 ]; then wait "${jobs[0]}"; jobs=("${jobs[@]:1}"); fi
	done
done
for j in "${jobs[@]}"; do wait "$j"; done
for seed in 1 2 3; do
	set_name="held out"
	[ "$seed" = 1 ] && set_name="tuning"
	for g in operating-room road-camera serverless-bursty; do
		args=(--generate "$g:14" --seed "$seed" "${service[@]}" --policies "$policies")
		row "$g (generated, seed $seed, $set_name, 14 days at 15 s)" "$out/$g-seed$seed.json" "cloudskin lp scale simulate ${args[*]}"
		table "$g (generated, seed $seed)" "$set_name" "$out/$g-seed$seed.json"
	done
done

for f in example_wp_log_peyton_manning example_pedestrians_covid example_retail_sales; do
	[ -f "$traces/$f.csv" ] || { echo "bench: $traces/$f.csv absent, skipped" >&2; continue; }
	args=(--input "$traces/$f.csv" --step 1m --mean 100 "${service[@]}" --policies "$real_policies")
	echo "bench: lp scale simulate ${args[*]}" >&2
	"$bin" lp scale simulate "${args[@]}" -o json 2>/dev/null >"$out/$f.json"
	row "$f (real, held out, one row per minute)" "$out/$f.json" "cloudskin lp scale simulate ${args[*]/#$traces\//}"
	table "$f (real)" "held out" "$out/$f.json"
	# The network needs 40 model steps to fit, more than 4 weekly seasons:
	# it gets 8 seasons of history (the other models keep 4).
	echo "bench: lp scale simulate ${args[*]} --policies hpa,predictive:gru --history-seasons 8" >&2
	"$bin" lp scale simulate "${args[@]}" --policies hpa,predictive:gru --history-seasons 8 -o json 2>/dev/null >"$out/$f-gru.json"
	jq -s '.[0] as $a | .[1] as $g | $a | .results += [$g.results[] | select(.policy == "predictive:gru") | .policy = "predictive:gru (8 seasons)"]' "$out/$f.json" "$out/$f-gru.json" >"$out/$f-all.json"
	sed -i '/^| '"$f"' (real) |/d' "$md"
	table "$f (real)" "held out" "$out/$f-all.json"
done
echo "bench: wrote $md" >&2
