#!/usr/bin/env bash
# Builds the tools the install and observability tests use, from the Go modules pinned beside this
# script: helm (helm/: lint, render, install, upgrade, uninstall charts/lastcall) and promtool
# (promtool/: check and unit-test the alerting rules in config/prometheus). A step of its own, with
# its own cache key, so that the local cluster's build (build.sh) stays as fast as it was and a
# new helm or Prometheus version rebuilds only these two. Cached like build.sh, in
# ~/.cache/lastcall/ops-tools/<hash of go.mod/go.sum/this script>; prints the bin directory on its
# last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
MIN_GO_MINOR=26

if ! command -v go >/dev/null 2>&1; then
  echo "lastcall: Go is not installed. Install Go 1.${MIN_GO_MINOR} or newer and run this again." >&2
  exit 2
fi
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
if [ "${go_minor:-0}" -lt "$MIN_GO_MINOR" ]; then
  echo "lastcall: Go $(go env GOVERSION) is too old; helm and promtool need Go 1.${MIN_GO_MINOR} or newer." >&2
  exit 2
fi

key="$(cat "$here/helm/go.mod" "$here/helm/go.sum" "$here/promtool/go.mod" "$here/promtool/go.sum" "$here/build-ops.sh" | sha256sum | cut -c1-16)"
cache="${LASTCALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lastcall}/ops-tools/$key"
bin="$cache/bin"
if [ -f "$cache/.complete" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"

start=$SECONDS
step() { echo "[ops-tools +$((SECONDS - start))s] $*" >&2; }

helm_version="$(cd "$here/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v3)"
step "building helm $helm_version into $bin (a cold build takes several minutes on 2 cores)"
# helm prints its version from these (helm's Makefile sets the same variables).
# helm's Makefile stamps these; without them `helm template` assumes Kubernetes v1.20 and refuses
# the chart's kubeVersion (>=1.30). The Kubernetes version is the one of helm's client-go.
k8s_minor="$(cd "$here/helm" && go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
(cd "$here/helm" && CGO_ENABLED=0 go build -trimpath -ldflags "$helm_ldflags" -o "$bin/helm" helm.sh/helm/v3/cmd/helm)
step "helm done"

prom_module="$(cd "$here/promtool" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)"
# The Go module v0.3MM.P is Prometheus v3.MM.P.
prom_version="$(echo "$prom_module" | sed -E 's/^v0\.3([0-9]{2})\.([0-9]+).*/3.\1.\2/; s/^3\.0/3./')"
step "building promtool $prom_version ($prom_module) into $bin"
# remove_all_sd leaves out every service-discovery plugin (AWS, Azure, GCE, Kubernetes, ...: most
# of the build): the tests use promtool for rules only (check rules, test rules).
(cd "$here/promtool" && CGO_ENABLED=0 go build -trimpath -tags remove_all_sd \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$prom_version" \
  -o "$bin/promtool" github.com/prometheus/prometheus/cmd/promtool)
step "promtool done; built in $((SECONDS - start))s"
touch "$cache/.complete"
echo "$bin"
