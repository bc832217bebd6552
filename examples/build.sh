#!/usr/bin/env bash
# Builds every example as a cell (wasm32-wasi module) with `cloudskin cell
# cc` ($CLOUDSKIN, default bin/cloudskin, built by `make build`), or natively
# with mpicc for the baselines.
#
#   examples/build.sh [-n] [--native] [OUTDIR]
#
#   -n        print the commands instead of running them
#   --native  build native programs with mpicc instead of cells
#   OUTDIR    where to write them (default examples/out, or examples/out/native)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

dry=0
native=0
out=""
for arg in "$@"; do
	case "$arg" in
	-n) dry=1 ;;
	--native) native=1 ;;
	-*) echo "usage: $0 [-n] [--native] [OUTDIR]" >&2; exit 2 ;;
	*) out=$arg ;;
	esac
done

sources=(hello/hello.c mpi/ring.c mpi/allreduce.c mpi/latency.c ndvi/ndvi.c ndvi/ndvi-composite.c kernels/nstream.c kernels/transpose.c kernels/stencil.c)

run() {
	if [ "$dry" = 1 ]; then
		echo "$*"
	else
		echo "+ $*" >&2
		"$@"
	fi
}

if [ "$native" = 1 ]; then
	out=${out:-$here/out/native}
	command -v mpicc >/dev/null || { echo "build.sh: no mpicc (apt-get install libopenmpi-dev openmpi-bin)" >&2; exit 1; }
	[ "$dry" = 1 ] || mkdir -p "$out"
	for src in "${sources[@]}"; do
		run mpicc -O2 -Wall -o "$out/$(basename "$src" .c)" "$here/$src" -lm
	done
	exit 0
fi

out=${out:-$here/out}
cloudskin=${CLOUDSKIN:-$root/bin/cloudskin}
[ -x "$cloudskin" ] || [ "$dry" = 1 ] || { echo "build.sh: no $cloudskin (run make build, or set CLOUDSKIN)" >&2; exit 1; }
[ "$dry" = 1 ] || mkdir -p "$out"
for src in "${sources[@]}"; do
	run "$cloudskin" cell cc -O2 -o "$out/$(basename "$src" .c).wasm" "$here/$src"
done
