#!/usr/bin/env bash
# `make bench`: runs the Go benchmarks and the side-by-side comparisons with
# peers, and rewrites docs/BENCHMARKS.md with one row per benchmark: the
# command, the peer, the medians, their ratio, the machine and the date.
#
# A comparison is an executable bench/compare-*.sh that prints TSV rows:
#   benchmark <TAB> command <TAB> peer <TAB> median ours <TAB> median peer
# (medians with units, e.g. "1.2 ms"); this script adds ratio, machine, date.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${BENCH_COUNT:-6}
out=bench/out
mkdir -p "$out"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
today=$(date -u +%Y-%m-%d)
rows=$out/rows.tsv
: >"$rows"

# Go benchmarks: median ns/op over $COUNT runs; no peer.
gocmd="go test -run '^\$' -bench . -count $COUNT ./..."
echo "bench: $gocmd" >&2
go test -run '^$' -bench . -count "$COUNT" ./... | tee "$out/go-bench.txt" >&2
# One "name value" line per run, sorted so each benchmark's runs are
# together in ascending order (mawk has no asort), then the median per name.
awk '
	/^pkg: / { pkg = $2; sub(".*/cloudskin/cloudskin/", "", pkg) }
	/^Benchmark/ && $4 == "ns/op" { name = pkg "." $1; sub(/-[0-9]+$/, "", name); print name, $3 }
' "$out/go-bench.txt" | sort -k1,1 -k2,2g | awk -v cmd="$gocmd" '
	function flush() {
		if (n == 0) return
		med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		unit = "ns"; if (med >= 1e6) { med /= 1e6; unit = "ms" } else if (med >= 1e3) { med /= 1e3; unit = "µs" }
		printf "%s\t%s\t—\t%.3g %s/op\t—\n", name, cmd, med, unit
		n = 0
	}
	$1 != name { flush(); name = $1 }
	{ a[++n] = $2 }
	END { flush() }
' >>"$rows"

# Comparisons with peers.
for c in bench/compare-*.sh; do
	[ -x "$c" ] || continue
	echo "bench: $c" >&2
	"$c" >>"$rows"
done

{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` ($(basename "$0")); do not edit by hand. Medians over repeated runs"
	echo "on one machine in one run; the ratio is ours / peer (below 1 means we are faster)."
	echo
	echo "| benchmark | command | peer | median ours | median peer | ratio | machine | date |"
	echo "|---|---|---|---|---|---|---|---|"
	while IFS=$'\t' read -r name cmd peer ours theirs; do
		ratio="—"
		if [ "$peer" != "—" ]; then
			ratio=$(awk -v a="${ours%% *}" -v b="${theirs%% *}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }')
		fi
		echo "| $name | \`$cmd\` | $peer | $ours | $theirs | $ratio | $machine | $today |"
	done <"$rows"
	echo
	cat bench/NOTES.md
} >docs/BENCHMARKS.md
echo "bench: wrote docs/BENCHMARKS.md ($(wc -l <"$rows") rows)" >&2
