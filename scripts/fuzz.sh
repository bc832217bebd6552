#!/usr/bin/env bash
# Runs every fuzz target for the given time (default 30s); new interesting
# inputs land in the package's testdata/fuzz and should be committed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "fuzz $pkg $target for $fuzztime"
		go test -run "^$" -fuzz "^$target\$" -fuzztime "$fuzztime" -fuzzminimizetime 3s "$pkg"
	done
done
