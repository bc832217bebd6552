#!/usr/bin/env bash
# Installs what the Kubernetes driver's integration tests need (internal/kubetest),
# idempotently: a second run changes nothing and downloads nothing.
#
#   - etcd 3.4, the Debian package etcd-server (/usr/bin/etcd);
#   - kube-apiserver, built from source into .tools/bin/kube-apiserver with a
#     version stamp next to it. Kubernetes publishes no `go install`-able
#     command: k8s.io/kubernetes requires its staging modules (k8s.io/api,
#     k8s.io/apiserver, ...) at v0.0.0 and replaces them with ./staging paths,
#     which only work inside its own tree. So we build from a throwaway main
#     module that requires k8s.io/kubernetes and maps every staging module to
#     its published release (v0.X.Y for v1.X.Y). Everything comes through the
#     Go module proxy; our go.mod is never touched. ~3-4 min the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSION=v1.34.4

log() { echo "install-kube: $*" >&2; }

install_etcd() {
	dpkg-query -W -f='${Status}' etcd-server 2>/dev/null | grep -q "install ok installed" && return
	log "apt-get install etcd-server"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends etcd-server
	# The package starts etcd as a system service on the default ports; the
	# tests start their own on free ports, so the service is not needed.
	if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
		$sudo systemctl disable --now etcd >/dev/null 2>&1 || true
	fi
}

install_kube_apiserver() {
	local bin=.tools/bin/kube-apiserver
	if [ -x "$bin" ] && [ "$(cat "$bin.version" 2>/dev/null)" = "$KUBE_VERSION" ]; then
		return
	fi
	log "building kube-apiserver $KUBE_VERSION from the module proxy (takes a few minutes)"
	local out="$PWD/.tools/bin"
	mkdir -p "$out"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(
		cd "$tmp"
		export GOFLAGS=-mod=mod GOWORK=off
		go mod init cloudskin.local/kube-apiserver >/dev/null 2>&1
		# k8s.io/kubernetes's own go.mod names the staging modules: every
		# `k8s.io/X => ./staging/src/k8s.io/X` becomes `k8s.io/X => k8s.io/X v0.Y.Z`.
		local gomod staging
		gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
		[ -f "$gomod" ] || { log "could not download the go.mod of k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
		staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[A-Za-z0-9._/-]*\) => ./staging/src/.*#\1#p' "$gomod")
		[ -n "$staging" ] || { log "no staging modules found in $gomod"; exit 1; }
		for m in $staging; do
			go mod edit -replace "$m=$m@${KUBE_VERSION/v1./v0.}"
		done
		go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION"
		cat >main.go <<-'EOF'
			// Command kube-apiserver is Kubernetes' API server, built outside its tree.
			package main

			import (
				"os"

				"k8s.io/component-base/cli"
				"k8s.io/kubernetes/cmd/kube-apiserver/app"
			)

			func main() {
				os.Exit(cli.Run(app.NewAPIServerCommand()))
			}
		EOF
		go mod tidy >/dev/null
		# The version the server reports (/version, compatibility checks) comes
		# from link-time variables, as in Kubernetes' own build.
		local v=k8s.io/component-base/version minor=${KUBE_VERSION#v1.}
		minor=${minor%%.*}
		go build -trimpath -o "$out/kube-apiserver.tmp" -ldflags "-s -w \
			-X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor \
			-X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z" .
	)
	mv "$out/kube-apiserver.tmp" "$bin"
	echo "$KUBE_VERSION" >"$bin.version"
	log "built $bin ($("$bin" --version 2>/dev/null || echo "version unknown"))"
}

install_etcd
install_kube_apiserver
