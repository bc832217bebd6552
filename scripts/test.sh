#!/usr/bin/env bash
# What CI runs (through `make test`): lint, then every test with the race
# detector. Must stay under 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/lint.sh
echo "lint ok ($(($(date +%s) - start))s)"
go test -race -timeout 10m ./...
echo "tests ok ($(($(date +%s) - start))s)"
