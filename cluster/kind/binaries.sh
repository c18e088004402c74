#!/usr/bin/env bash
# Builds every binary the kind path needs, from Go modules and the Kubernetes
# sources, into $KIND_CACHE/bin-<key>/ (key: this script, lib.sh's pinned
# versions and the node-tools module). Prints that directory on its last line.
#   host:  kind (sigs.k8s.io/kind)
#   node:  kubelet kubeadm kube-proxy (node-tools module, a sibling of cluster/tools),
#          containerd containerd-shim-runc-v2 ctr, crictl, pause (gcc -static)
#   images: coredns; etcd, kube-apiserver, kube-controller-manager, kube-scheduler
#          and kubectl come from cluster/tools/build.sh (the local cluster's cache)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tools_key="$(hash_of "$REPO_ROOT/cluster/tools/go.mod" "$REPO_ROOT/cluster/tools/go.sum" "$REPO_ROOT/cluster/tools/build.sh")"
key="$(hash_of "$0" "$VERSIONS_FILE" "$KIND_DIR/node-tools/go.mod" "$KIND_DIR/node-tools/go.sum" "-$tools_key")"
out="$(stage_dir bin "$key")"
if is_complete "$out"; then
  step "binaries: cached in $out"
  echo "$out"
  exit 0
fi
rm -rf "$out" && mkdir -p "$out"
command -v go >/dev/null || die "Go is not installed (needs Go >= 1.26, as cluster/tools/build.sh)"
command -v gcc >/dev/null || die "gcc is not installed (apt-get install gcc libc6-dev): it builds the static pause binary"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
build=(nice -n 10 go)
t_all=$SECONDS


# Modules without replace directives: go install module/cmd@version, no module file of ours.
install() { GOBIN="$out" "${build[@]}" install -trimpath "$@"; }
timed "kind $KIND_VERSION" install -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION"
timed "containerd $CONTAINERD_VERSION" install -tags "no_aufs no_zfs no_btrfs no_devmapper" \
  -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION -X github.com/containerd/containerd/v2/version.Revision=$CONTAINERD_VERSION" \
  "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
  "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION"
timed "crictl $CRICTL_VERSION" install -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${CRICTL_VERSION#v}" \
  "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
timed "coredns $COREDNS_VERSION" install -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"

minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z -X $pkg.gitCommit=$K8S_VERSION"
done
node_tools() {
  (cd "$KIND_DIR/node-tools" && "${build[@]}" build -trimpath -ldflags "-s -w $stamp" -o "$out/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kube-proxy)
}
timed "kubelet, kubeadm, kube-proxy $K8S_VERSION" node_tools

# pause: the kubernetes module's own C source, static (it is the whole sandbox image).
k8s_dir="$(cd "$KIND_DIR/node-tools" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)"
pause_version="$(awk -F= '/^TAG[ ?]*=/{gsub(/ /,"",$2); print $2; exit}' "$k8s_dir/build/pause/Makefile" 2>/dev/null || true)"
timed "pause ${pause_version:-?}" gcc -Os -Wall -Werror -static -DVERSION="v${pause_version:-0}-lastcall" \
  -o "$out/pause" "$k8s_dir/build/pause/linux/pause.c"
strip "$out/pause"

# The control plane, kubectl and etcd: the same build as the local cluster (cached there).
# build.sh takes no lock: when another one is filling the same cache directory, wait for it.
tools_cache="$LASTCALL_CACHE/tools/$(cat "$REPO_ROOT"/cluster/tools/{go.mod,go.sum,vegeta/go.mod,vegeta/go.sum,build.sh} | sha256sum | cut -c1-16)"
while [ ! -f "$tools_cache/.complete" ] && pgrep -f 'cluster/tools/build.sh' >/dev/null; do
  step "waiting for a running cluster/tools/build.sh to finish $tools_cache"
  sleep 30
done
tools() { tools_bin="$(nice -n 10 bash "$REPO_ROOT/cluster/tools/build.sh" | tail -n 1)"; }
timed "control plane, kubectl, etcd (cluster/tools/build.sh)" tools
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd; do
  cp "$tools_bin/$b" "$out/$b"
done

step "binaries: all built in $((SECONDS - t_all))s into $out"
mark_complete "$out"
echo "$out"
