#!/usr/bin/env bash
# C-Cells against native code, side by side in one run (called by
# scripts/bench.sh, which adds ratio, machine and date):
#  - start latency and idle memory: TestCompareWithNative in package cell;
#  - compute: the MPI kernels and NDVI as cells on each engine versus the same
#    C built with gcc -O2 through Open MPI's mpicc, run by mpirun, at 1 and 2
#    ranks; each program reports its own timing (avg time per iteration, or
#    NDVI's compute phase), the median of $RUNS runs is kept.
# Prints TSV rows: benchmark, command, peer, median ours, median peer.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-5}
out=bench/out/cells
mkdir -p "$out"
cloudskin=$PWD/bin/cloudskin
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none)

# Start latency and idle memory.
rows=$out/start.tsv
rm -f "$rows"
CLOUDSKIN_COMPARE_OUT=$PWD/$rows go test -count=1 -run 'TestCompareWithNative|TestCompareMigrationDowntime' ./cell >&2
cat "$rows"

# MPI latency at 2 ranks (examples/mpi/latency.c): µs per operation as the
# program reports it, median of $RUNS runs.
latency() { # op, command...
	local op=$1
	shift
	for _ in $(seq "$RUNS"); do
		"$@" 2>&1 | awk -v op="$op" '$2 == op { print $3 }'
	done | median
}

# Compute.
CLOUDSKIN=$cloudskin bash examples/build.sh "$out/wasm" >&2 2>/dev/null
bash examples/build.sh --native "$out/native" >&2 2>/dev/null
"$cloudskin" raster generate 4000 4000 1 "$out/red.csr" "$out/nir.csr"

# median prints the median of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# seconds runs a command RUNS times and prints the median of what the
# program reports on the line matching $1 (a sed expression capturing seconds).
seconds() {
	local pattern=$1
	shift
	for _ in $(seq "$RUNS"); do
		"$@" 2>&1 | sed -n "$pattern"
	done | median
}

ms() { awk -v s="$1" 'BEGIN { printf "%.3g ms", s * 1000 }'; }

for op in pingpong-8B barrier allreduce-8B bcast-64KiB; do
	peer=$(latency "$op" "${mpirun[@]}" -n 2 "$out/native/latency" 20000)
	for engine in wasmtime wazero; do
		ours=$(latency "$op" "$cloudskin" cell mpirun -n 2 --engine "$engine" "$out/wasm/latency.wasm" 20000)
		printf '%s\t%s\t%s\t%s µs\t%s µs\n' "MPI $op latency, 2 ranks ($engine)" \
			"cloudskin cell mpirun -n 2 --engine $engine latency.wasm 20000" "Open MPI mpirun -n 2 (shared memory), gcc -O2" "$ours" "$peer"
	done
done

avg='s/.*avg time \([0-9.e+-]*\) s.*/\1/p'
compute='s/.*compute \([0-9.e+-]*\) s.*/\1/p'
declare -A args=([nstream]="20 4000000" [transpose]="10 2048" [stencil]="20 2000")
for ranks in 1 2; do
	for k in nstream transpose stencil ndvi; do
		if [ "$k" = ndvi ]; then
			pat=$compute
			cellargs=(--dir "$out:/data" "$out/wasm/ndvi.wasm" /data/red.csr /data/nir.csr /data/ndvi-cell.csr)
			nativeargs=("$out/native/ndvi" "$out/red.csr" "$out/nir.csr" "$out/ndvi-native.csr")
			what="ndvi compute phase, 4000x4000"
		else
			pat=$avg
			read -r -a a <<<"${args[$k]}"
			cellargs=("$out/wasm/$k.wasm" "${a[@]}")
			nativeargs=("$out/native/$k" "${a[@]}")
			what="$k ${args[$k]}, time per iteration"
		fi
		peer=$(seconds "$pat" "${mpirun[@]}" -n "$ranks" "${nativeargs[@]}")
		for engine in wasmtime wazero; do
			ours=$(seconds "$pat" "$cloudskin" cell mpirun -n "$ranks" --engine "$engine" "${cellargs[@]}")
			printf '%s\t%s\t%s\t%s\t%s\n' "$what, $ranks rank(s) ($engine)" \
				"cloudskin cell mpirun -n $ranks --engine $engine $k.wasm" "Open MPI mpirun -n $ranks, gcc -O2" "$(ms "$ours")" "$(ms "$peer")"
		done
	done
done

# What migratability costs: the kernels built with --migratable (Asyncify)
# against the same cells without it, 1 rank, per-iteration time.
mkdir -p "$out/wasm-migratable"
for k in nstream transpose stencil ndvi; do
	src=examples/kernels/$k.c
	[ "$k" = ndvi ] && src=examples/ndvi/ndvi.c
	"$cloudskin" cell cc --migratable -O2 -o "$out/wasm-migratable/$k.wasm" "$src"
done
for k in nstream transpose stencil ndvi; do
	if [ "$k" = ndvi ]; then
		pat=$compute
		plain=(--dir "$out:/data" "$out/wasm/ndvi.wasm" /data/red.csr /data/nir.csr /data/ndvi-cell.csr)
		mig=(--dir "$out:/data" "$out/wasm-migratable/ndvi.wasm" /data/red.csr /data/nir.csr /data/ndvi-cell.csr)
		what="ndvi compute phase, 4000x4000"
	else
		pat=$avg
		read -r -a a <<<"${args[$k]}"
		plain=("$out/wasm/$k.wasm" "${a[@]}")
		mig=("$out/wasm-migratable/$k.wasm" "${a[@]}")
		what="$k ${args[$k]}, time per iteration"
	fi
	for engine in wasmtime wazero; do
		peer=$(seconds "$pat" "$cloudskin" cell mpirun -n 1 --engine "$engine" "${plain[@]}")
		ours=$(seconds "$pat" "$cloudskin" cell mpirun -n 1 --engine "$engine" "${mig[@]}")
		size_plain=$(stat -c %s "$out/wasm/$k.wasm")
		size_mig=$(stat -c %s "$out/wasm-migratable/$k.wasm")
		printf '%s\t%s\t%s\t%s\t%s\n' "migratable (Asyncify) $what, 1 rank ($engine); module $size_mig vs $size_plain bytes" \
			"cloudskin cell cc --migratable; cell mpirun -n 1 --engine $engine" "the same cell built without --migratable" "$(ms "$ours")" "$(ms "$peer")"
	done
done
