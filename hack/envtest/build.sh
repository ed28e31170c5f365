#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from Go modules into $1 (a
# bin/k8s/<version>-linux-amd64 folder), for machines where setup-envtest
# cannot download its release archives. The result is reused when present:
# the first build takes 10-20 minutes on two cores, later ones are instant.
set -euo pipefail

dest=${1:?usage: build.sh DEST_DIR}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# Versions come from go.mod, so that what is built is exactly what is pinned.
k8s_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
etcd_version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
minor=$(echo "$k8s_version" | cut -d. -f2)
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

pkg=k8s.io/component-base/version
k8s_ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor \
 -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
etcd_ldflags="-s -w"

mkdir -p "$dest"
build() { # name package ldflags
	local name=$1 package=$2 ldflags=$3
	if [ -x "$dest/$name" ]; then
		echo "envtest: $name already built in $dest"
		return
	fi
	echo "envtest: building $name from $package (first build takes minutes; cached afterwards)..."
	local start=$SECONDS
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dest/$name.tmp" "$package"
	mv "$dest/$name.tmp" "$dest/$name"
	echo "envtest: built $name in $((SECONDS - start))s"
}

build etcd go.etcd.io/etcd/server/v3 "$etcd_ldflags"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kubectl k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
echo "envtest: kube-apiserver $k8s_version, etcd $etcd_version, kubectl ready in $dest"
