#!/usr/bin/env bash
# `make bench`: runs the Go benchmarks and the side-by-side comparisons with
# peers, records one row per measurement in bench/results.tsv and renders
# docs/BENCHMARKS.md from it: the command, the peer, the medians, their
# ratio, the machine and the date of each row.
#
# A comparison is an executable bench/compare-*.sh that prints TSV rows:
#   benchmark <TAB> command <TAB> peer <TAB> median ours <TAB> median peer
# (medians with units, e.g. "1.2 ms"); this script adds machine and date.
#
# Partial runs re-measure one area and keep every other row as it was:
#   BENCH_GO='./stream/...'        Go packages to benchmark (default ./...;
#                                  "none" runs no Go benchmarks)
#   BENCH_COMPARE='compare-streams' comparisons to run, by name (default
#                                  all; "none" runs none)
# The rows of what ran (every package BENCH_GO names, every comparison
# BENCH_COMPARE names) are replaced, so a benchmark that was removed goes.
# Go benchmarks give one row for ns/op and one per custom metric
# (b.ReportMetric), each the median over BENCH_COUNT runs.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${BENCH_COUNT:-6}
GO_PKGS=${BENCH_GO:-./...}
COMPARE=${BENCH_COMPARE:-all}
out=bench/out
results=bench/results.tsv
mkdir -p "$out"
touch "$results"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
today=$(date -u +%Y-%m-%d)
fresh=$out/fresh.tsv # source <TAB> benchmark <TAB> command <TAB> peer <TAB> ours <TAB> theirs
ran=$out/ran.txt     # the sources whose rows the fresh ones replace
: >"$fresh"
: >"$ran"

# Go benchmarks: the median of each metric over $COUNT runs; no peer.
if [ "$GO_PKGS" != none ]; then
	# shellcheck disable=SC2086 # a list of package patterns
	go list $GO_PKGS | sed 's|^github.com/cloudskin/cloudskin/\{0,1\}||; s|^$|.|; s|^|go:|' >>"$ran"
	gocmd="go test -run '^\$' -bench . -count $COUNT $GO_PKGS"
	echo "bench: $gocmd" >&2
	# shellcheck disable=SC2086
	go test -run '^$' -bench . -count "$COUNT" $GO_PKGS | tee "$out/go-bench.txt" >&2
	# One "package name rank unit value" line per metric and run, sorted so
	# each metric's runs are together in ascending order (mawk has no
	# asort; rank puts ns/op first), then the median per metric.
	awk '
		/^pkg: / { pkg = $2; sub("^github.com/cloudskin/cloudskin/?", "", pkg); if (pkg == "") pkg = "." }
		/^Benchmark/ {
			name = $1; sub(/-[0-9]+$/, "", name)
			for (i = 3; i + 1 <= NF; i += 2) {
				unit = $(i + 1)
				if (unit == "B/op" || unit == "allocs/op") continue
				print pkg, name, (unit == "ns/op" ? 0 : 1), unit, $i
			}
		}
	' "$out/go-bench.txt" | sort -k1,1 -k2,2 -k3,3n -k4,4 -k5,5g | awk -v cmd="$gocmd" '
		# Three significant digits, without an exponent below a million.
		function num(v) { return (v >= 1000 && v < 1e6) ? sprintf("%.0f", v) : sprintf("%.3g", v) }
		function flush() {
			if (n == 0) return
			med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			label = pkg "." name
			if (unit == "ns/op") {
				u = "ns"; if (med >= 1e6) { med /= 1e6; u = "ms" } else if (med >= 1e3) { med /= 1e3; u = "µs" }
				value = sprintf("%.3g %s/op", med, u)
			} else if (match(unit, /-(ns|µs|ms|s)$/)) { # "p99-ms": [p99] 1.2 ms
				label = label " [" substr(unit, 1, RSTART - 1) "]"
				value = num(med) " " substr(unit, RSTART + 1)
			} else {
				label = label " [" unit "]"
				value = num(med) " " unit
			}
			printf "go:%s\t%s\t%s\t—\t%s\t—\n", pkg, label, cmd, value
			n = 0
		}
		$1 != pkg || $2 != name || $4 != unit { flush(); pkg = $1; name = $2; unit = $4 }
		{ a[++n] = $5 }
		END { flush() }
	' >>"$fresh"
fi

# Comparisons with peers.
for c in bench/compare-*.sh; do
	[ -x "$c" ] || continue
	name=$(basename "$c" .sh)
	case " $COMPARE " in
	" all " | *" $name "*) ;;
	*) continue ;;
	esac
	echo "$name" >>"$ran"
	echo "bench: $c" >&2
	"$c" | awk -v src="$name" 'NF { print src "\t" $0 }' >>"$fresh"
done

# Keep the rows of what did not run, add the fresh ones with this machine
# and date; order by source, then as measured.
{
	awk -F'\t' 'FILENAME == ARGV[1] { ran[$1] = 1; next } !($1 in ran)' "$ran" "$results"
	awk -F'\t' -v OFS='\t' -v m="$machine" -v d="$today" '{ print $0, m, d }' "$fresh"
} | sort -t$'\t' -s -k1,1 >"$out/results.tsv"
mv "$out/results.tsv" "$results"

{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` ($(basename "$0")) from bench/results.tsv; do not edit by hand."
	echo "Medians over repeated runs on one machine in one run; the ratio is ours / peer (below 1"
	echo "means we are faster). A partial run (BENCH_GO, BENCH_COMPARE) re-measures only its rows:"
	echo "each row carries its own date."
	echo
	echo "| benchmark | command | peer | median ours | median peer | ratio | machine | date |"
	echo "|---|---|---|---|---|---|---|---|"
	while IFS=$'\t' read -r _ name cmd peer ours theirs rowmachine rowdate; do
		ratio="—"
		if [ "$peer" != "—" ]; then
			ratio=$(awk -v a="${ours%% *}" -v b="${theirs%% *}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }')
		fi
		echo "| $name | \`$cmd\` | $peer | $ours | $theirs | $ratio | $rowmachine | $rowdate |"
	done <"$results"
	echo
	cat bench/NOTES.md
} >docs/BENCHMARKS.md
echo "bench: wrote docs/BENCHMARKS.md ($(wc -l <"$fresh") rows measured, $(wc -l <"$results") in all)" >&2
