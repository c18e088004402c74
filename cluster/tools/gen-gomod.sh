#!/usr/bin/env bash
# Regenerates go.mod for a given Kubernetes version. k8s.io/kubernetes requires
# its staging modules at v0.0.0 and replaces them with ./staging/...; a module
# that depends on it must replace each with the published v0.<minor>.<patch>.
# The list comes from the upstream go.mod itself, never by hand.
set -euo pipefail
K8S_VERSION="${1:?usage: gen-gomod.sh v1.37.2}"
STAGING="v0.${K8S_VERSION#v1.}"
cd "$(dirname "$0")"
upstream="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${K8S_VERSION}.mod"
[ -f "$upstream" ] || go mod download "k8s.io/kubernetes@${K8S_VERSION}"
{
  echo "module lastcall.dev/cluster/tools"
  echo
  echo "go $(awk '/^go /{print $2; exit}' "$upstream")"
  echo
  echo "require k8s.io/kubernetes ${K8S_VERSION}"
  echo
  echo "replace ("
  awk -v v="$STAGING" '/=> \.\/staging\//{printf "\t%s => %s %s\n", $1, $1, v}' "$upstream"
  echo ")"
} > go.mod
go get "k8s.io/kubernetes@${K8S_VERSION}" go.etcd.io/etcd/server/v3@v3.7.0
go mod tidy
