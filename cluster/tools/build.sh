#!/usr/bin/env bash
# Builds the upstream binaries the local cluster runs (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd, vegeta) from the Go
# modules pinned beside this script. The results are cached outside the
# repository, keyed by a hash of go.mod/go.sum, so a rebuild happens only when
# a pinned version changes. Prints the bin directory on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
MIN_GO_MINOR=26

if ! command -v go >/dev/null 2>&1; then
  echo "lastcall: Go is not installed. Install Go 1.${MIN_GO_MINOR} or newer (e.g. 'apt-get install golang' or your distribution's package) and run this again." >&2
  exit 2
fi
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
if [ "${go_minor:-0}" -lt "$MIN_GO_MINOR" ]; then
  echo "lastcall: Go $(go env GOVERSION) is too old; the pinned Kubernetes needs Go 1.${MIN_GO_MINOR} or newer." >&2
  exit 2
fi

key="$(cat "$here/go.mod" "$here/go.sum" "$here/vegeta/go.mod" "$here/vegeta/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)"
cache="${LASTCALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lastcall}/tools/$key"
bin="$cache/bin"
if [ -f "$cache/.complete" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"

k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/go.mod")"
minor="$(echo "$k8s_version" | cut -d. -f2)"
commit="$(go list -m -f '{{.Version}}' -modfile "$here/go.mod" k8s.io/kubernetes 2>/dev/null || echo "$k8s_version")"
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z -X $pkg.gitCommit=$commit"
done

start=$SECONDS
step() { echo "[tools +$((SECONDS - start))s] $*" >&2; }

step "building Kubernetes $k8s_version (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) and etcd into $bin"
step "a cold build takes 15-30 minutes on 2 cores; later runs reuse the cache"
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $stamp" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl)
step "kubernetes done"
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
step "etcd done"
(cd "$here/vegeta" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/vegeta" github.com/tsenart/vegeta/v12)
step "vegeta done; all tools built in $((SECONDS - start))s"
touch "$cache/.complete"
echo "$bin"
