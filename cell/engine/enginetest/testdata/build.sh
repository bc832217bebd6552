#!/bin/sh
# build.sh compiles the WAT test modules into the .wasm files committed next
# to them. With an argument, it writes the .wasm files into that directory
# instead (the enginetest package's TestTestdataCurrent uses this to check
# that the committed files match their sources).
#
# Needs wat2wasm (Debian package wabt; scripts/install-deps.sh installs it).
# --debug-names keeps function names so traps can name the function.
set -eu
src=$(cd "$(dirname "$0")" && pwd)
out=${1:-$src}
for wat in "$src"/*.wat; do
	name=$(basename "$wat" .wat)
	wat2wasm --debug-names -o "$out/$name.wasm" "$wat"
done
