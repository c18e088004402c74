#!/usr/bin/env bash
# The kind node image, assembled locally (kind's own `kind build node-image` needs
# docker and pulls kindest/base): the Debian node root filesystem (debian.sh), kind's
# base-image files read from the kind Go module at build time (never checked in),
# the binaries of binaries.sh, and every cluster image preloaded into containerd
# (images.sh cluster). Tagged localhost/lastcall/kind-node:<key>; prints that name.
#
# The fixes this machine needs (cluster/kind/README.md):
# - containerd.service drop-in: LimitNOFILE=20000, LimitNPROC=32768, OOMScoreAdjust=0
#   (no CAP_SYS_RESOURCE: higher limits and negative OOM scores are refused);
#   restrict_oom_score_adj = true in containerd's CRI config;
# - lastcall-entrypoint, run before kind's entrypoint: /proc/sys read-only except
#   /proc/sys/net (a privileged container shares /proc/sys with the machine, and systemd
#   and the kubelet would change machine-wide values), with files holding the values the
#   kubelet insists on bind-mounted over those it checks;
# - the root filesystem's sysctl.d files removed (kind's own, network-only ones stay);
# - a static CNI configuration (ptp + host-local + portmap, Debian's plugins) in place of
#   kindnetd, which no reachable registry serves (kind config: disableDefaultCNI).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
use_podman_config

bin="$(bash "$KIND_DIR/binaries.sh" | tail -n 1)"
rootfs="$(bash "$KIND_DIR/debian.sh" rootfs | tail -n 1)"
preload="$(bash "$KIND_DIR/images.sh" cluster | tail -n 1)"
kind_src="$(cd "$KIND_DIR/node-tools" && go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | awk -F'"' '/"Dir"/{print $4}')"
[ -d "$kind_src/images/base/files" ] || die "kind's base-image files not found in the module cache ($kind_src)"

# The pod network of the static CNI configuration: kind's default podSubnet, one node.
POD_CIDR="10.244.0.0/24"
key="$(hash_of "$0" "$VERSIONS_FILE" "-$(basename "$bin")" "-$(basename "$rootfs")" \
  "-$(basename "$(dirname "$preload")")" "-$KIND_VERSION" "-$POD_CIDR")"
image="localhost/lastcall/kind-node:$key"
if podman image exists "$image"; then
  step "node image: cached ($image)"
  echo "$image"
  exit 0
fi
t0=$SECONDS
c="$(buildah from scratch)"
cleanup() { buildah rm "$c" >/dev/null 2>&1 || true; [ -z "${ctrd_pid:-}" ] || kill "$ctrd_pid" 2>/dev/null || true; rm -rf "${ctrd_tmp:-/nonexistent}"; }
trap cleanup EXIT
mnt="$(buildah mount "$c")"
step "node image: unpacking the node root filesystem"
tar --numeric-owner -xf "$rootfs/node.tar" -C "$mnt"

# kind's base image (images/base/Dockerfile), step by step.
files="$kind_src/images/base/files"
install -m 0755 "$files"/usr/local/bin/* "$mnt/usr/local/bin/"
mkdir -p "$mnt/kind/bin" "$mnt/LICENSES"
cp -r "$files/kind/." "$mnt/kind/" && chmod -R u+w "$mnt/kind"
chmod 0755 "$mnt/kind" "$mnt/kind/bin" "$mnt"/kind/bin/*
install -m 0644 "$files/LICENSES/"* "$mnt/LICENSES/"
install -m 0644 "$files/etc/crictl.yaml" "$mnt/etc/"
mkdir -p "$mnt/etc/containerd" "$mnt/etc/default" "$mnt/etc/sysctl.d" "$mnt/etc/systemd/system/kubelet.service.d"
install -m 0644 "$files/etc/containerd/"* "$mnt/etc/containerd/"
install -m 0644 "$files/etc/default/"* "$mnt/etc/default/"
find "$files/etc/systemd/system" -maxdepth 1 -type f -exec install -m 0644 {} "$mnt/etc/systemd/system/" \;
install -m 0644 "$files/etc/systemd/system/kubelet.service.d/"* "$mnt/etc/systemd/system/kubelet.service.d/"
# sysctl.d: only kind's network settings (per network namespace) stay.
rm -f "$mnt"/usr/lib/sysctl.d/*.conf "$mnt"/etc/sysctl.d/*.conf "$mnt/etc/sysctl.conf" "$mnt/etc/sysctl.d/99-sysctl.conf"
install -m 0644 "$files/etc/sysctl.d/"* "$mnt/etc/sysctl.d/"
find "$mnt/usr/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
rm -f "$mnt"/usr/lib/systemd/system/multi-user.target.wants/* "$mnt"/etc/systemd/system/*.wants/* \
  "$mnt"/usr/lib/systemd/system/local-fs.target.wants/* "$mnt"/usr/lib/systemd/system/sockets.target.wants/*udev* \
  "$mnt"/usr/lib/systemd/system/sockets.target.wants/*initctl* "$mnt"/usr/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >>"$mnt/etc/systemd/journald.conf"
[ -e "$mnt/sbin/init" ] || ln -s /usr/lib/systemd/systemd "$mnt/sbin/init"
mkdir -p "$mnt/etc/kubernetes/manifests"

# Binaries: containerd and crictl beside kind's, kubelet/kubeadm/kubectl in /usr/bin
# (where kind's node image build puts them); runc and the CNI plugins are Debian's.
for b in containerd containerd-shim-runc-v2 ctr crictl; do install -m 0755 "$bin/$b" "$mnt/usr/local/bin/$b"; done
for b in kubelet kubeadm kubectl; do install -m 0755 "$bin/$b" "$mnt/usr/bin/$b"; done
mkdir -p "$mnt/opt/cni" && rm -rf "$mnt/opt/cni/bin" && ln -s /usr/lib/cni "$mnt/opt/cni/bin"
echo -n "$K8S_VERSION" >"$mnt/kind/version"
"$bin/ctr" oci spec |
  jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
  jq 'del(.process.rlimits)' >"$mnt/etc/containerd/cri-base.json"

# containerd: pause as kubeadm names it; never lower an OOM score (the VM refuses it).
pause="$(grep '/pause:' "$(dirname "$preload")/images.txt")"
sed -i -e "s#sandbox_image = .*#sandbox_image = \"$pause\"#" \
  -e 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$mnt/etc/containerd/config.toml"
grep -q 'restrict_oom_score_adj = true' "$mnt/etc/containerd/config.toml" || die "containerd config: restrict_oom_score_adj not set"
mkdir -p "$mnt/etc/systemd/system/containerd.service.d"
cat >"$mnt/etc/systemd/system/containerd.service.d/10-lastcall.conf" <<'CONF'
# This VM grants no CAP_SYS_RESOURCE: limits above nofile 20000 / nproc 32768 and a
# negative OOM score adjustment are refused (containerd would not start).
[Service]
LimitNOFILE=20000
LimitNPROC=32768
OOMScoreAdjust=0
CONF

# CNI: one node, a static configuration (kindnetd is not available here).
mkdir -p "$mnt/etc/cni/net.d"
cat >"$mnt/etc/cni/net.d/10-lastcall.conflist" <<CONF
{
  "cniVersion": "0.4.0",
  "name": "lastcall",
  "plugins": [
    {"type": "ptp", "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]},
     "mtu": 1500},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CONF

# The entrypoint wrapper that keeps the machine's sysctls as they are.
cat >"$mnt/usr/local/bin/lastcall-entrypoint" <<'SH'
#!/bin/bash
# Runs before kind's entrypoint, in the node container. A privileged container shares
# /proc/sys with the machine: make it read-only except /proc/sys/net (per network
# namespace), so neither systemd nor the kubelet changes a machine-wide value. The
# kubelet checks a few kernel values and fails when it cannot set them: bind-mount files
# holding the values it expects over those (it reads, sees them right, writes nothing).
set -euo pipefail
mount --bind /proc/sys /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,ro /proc/sys
mkdir -p /run/lastcall-sysctl
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
  kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  key="${kv%%=*}" value="${kv#*=}"
  if [ "$(cat "/proc/sys/$key")" != "$value" ]; then
    file="/run/lastcall-sysctl/${key//\//.}"
    echo "$value" >"$file"
    mount --bind -o ro "$file" "/proc/sys/$key"
  fi
done
exec "$@"
SH
chmod 0755 "$mnt/usr/local/bin/lastcall-entrypoint"

chroot "$mnt" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
chroot "$mnt" systemctl mask systemd-binfmt.service >/dev/null 2>&1

# Preload the cluster images into the node's containerd store, as kind's node image build
# does (ctr images import --no-unpack, pinned), with a containerd of our own on the host
# whose root is the image's /var/lib/containerd (no CRI, nothing else started).
ctrd_tmp="$(mktemp -d /run/lastcall-ctrd.XXXXXX)"
cat >"$ctrd_tmp/config.toml" <<CONF
version = 3
root = "$mnt/var/lib/containerd"
state = "$ctrd_tmp/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images",
  "io.containerd.nri.v1.nri", "io.containerd.internal.v1.tracing", "io.containerd.podsandbox.controller.v1.podsandbox"]
[grpc]
  address = "$ctrd_tmp/containerd.sock"
[ttrpc]
  address = "$ctrd_tmp/containerd.sock.ttrpc"
CONF
"$bin/containerd" --config "$ctrd_tmp/config.toml" >"$ctrd_tmp/log" 2>&1 &
ctrd_pid=$!
for _ in $(seq 50); do [ -S "$ctrd_tmp/containerd.sock" ] && break; sleep 0.2; done
ctr_() { "$bin/ctr" --address "$ctrd_tmp/containerd.sock" --namespace k8s.io "$@"; }
ctr_ version >/dev/null || { cat "$ctrd_tmp/log" >&2; die "containerd for the preload did not start"; }
timed "node image: preloading $(wc -l <"$(dirname "$preload")/images.txt") images" \
  ctr_ images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests "$preload" >/dev/null
ctr_ images list -q | grep -v '^sha256:' | sed 's/^/  preloaded: /' >&2
kill "$ctrd_pid" && wait "$ctrd_pid" 2>/dev/null || true
ctrd_pid=""
rm -rf "$mnt/var/lib/containerd/tmpmounts" 2>/dev/null || true

buildah umount "$c" >/dev/null
buildah config --env container=docker --stop-signal SIGRTMIN+3 \
  --entrypoint '["/usr/local/bin/lastcall-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]' --cmd '' "$c"
timed "node image: committing $image" buildah commit --quiet --rm "$c" "$image" >/dev/null
c=""
# Earlier node images (other keys) are stale; one still used by a running node stays.
for old in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/lastcall/kind-node:' | grep -vx "$image"); do
  podman rmi "$old" >/dev/null 2>&1 || true
done
step "node image: built $image in $((SECONDS - t0))s"
echo "$image"
