#!/usr/bin/env bash
# Installs what building and testing CloudSkin needs, idempotently: a second
# run changes nothing and downloads nothing. Debian packages through apt-get,
# Go tools at pinned versions into ./.tools/bin.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages. gcc and libc6-dev: cgo, which `go test -race` needs.
# clang, lld, wasi-libc, libclang-rt-dev-wasm32, libc++-dev-wasm32: `cloudskin cell cc` (C/C++ to wasm32-wasi).
# binaryen: wasm-opt (asyncify for migratable cells). wabt: wat2wasm for test modules.
# openmpi-bin, libopenmpi-dev: native MPI baselines in benchmarks.
# prometheus: a real Prometheus server that telemetry.Remote is tested against.
# chromium: headless browser for the dashboard's tests (chromedp).
APT_PACKAGES=(gcc libc6-dev git ca-certificates clang lld wasi-libc libclang-rt-dev-wasm32 libc++-dev-wasm32 binaryen wabt openmpi-bin libopenmpi-dev prometheus chromium jq ffmpeg)

# Go tools, pinned.
STATICCHECK_VERSION=v0.8.2
# MinIO server: a real S3 for the integration tests and benchmarks of the GEDS
# persistency tier (geds/s3tier, started by internal/miniotest) and the peer
# baseline for spill throughput. MinIO tags releases RELEASE.<date>, not semver,
# so Go can only pin a commit by pseudo-version; ~2 min to build the first time.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# NATS server: the JetStream peer of the stream store in bench/compare-streams.sh.
NATS_SERVER_VERSION=v2.15.2

log() { echo "install-deps: $*" >&2; }

need_go() {
	command -v go >/dev/null || { log "Go is not installed (need Go 1.26); see https://go.dev/doc/install"; exit 1; }
	local v
	v=$(go env GOVERSION)
	case "$v" in
	go1.2[6-9]* | go1.[3-9][0-9]*) ;;
	*) log "Go $v is too old: need Go 1.26 or newer"; exit 1 ;;
	esac
}

install_apt() {
	local missing=()
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	log "apt-get install ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_go_tool() { # name module version version-check-command...
	local name=$1 module=$2 version=$3
	local bin=.tools/bin/$name
	if [ -x "$bin" ] && [ "$(cat ".tools/bin/$name.version" 2>/dev/null)" = "$version" ]; then
		return
	fi
	log "go install $module@$version"
	mkdir -p .tools/bin
	GOBIN="$PWD/.tools/bin" go install "$module@$version"
	echo "$version" >".tools/bin/$name.version"
}

need_go
install_apt
install_go_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"
install_go_tool minio github.com/minio/minio "$MINIO_VERSION"
install_go_tool nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"
go mod download
# etcd and a kube-apiserver built from the module proxy, for the Kubernetes
# driver's tests against a real API server (~3.5 min the first time).
bash scripts/install-kube.sh
