#!/usr/bin/env bash
# Container images for the kind path, built locally with buildah (no registry is
# reachable), in the machine's own network namespace, cached by content hash.
#   images.sh cluster  -> cluster-images-<key>/preload.tar: what kubeadm and the suite
#                         need before anything can be loaded (pause, etcd, control plane,
#                         kube-proxy, CoreDNS, redis:7), for the node image's containerd
#   images.sh node-base -> the Node 24 base image (Debian minbase + the node binary of the
#                         npm "node" package + npm), the Dockerfile's NODE_IMAGE; prints its name
#   images.sh lastcall -> lastcall-images-<key>/lastcall.tar: the Dockerfile's workload target
#                         tagged v1..v6 (one tag per rolling update) and operator:dev, for
#                         `kind load image-archive`
# Each prints its artefact on its last line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
use_podman_config

# One tag per rolling update the suite and the experiment make (experiment/run.ts imageTag).
WORKLOAD_TAGS="v1 v2 v3 v4 v5 v6"
OPERATOR_IMAGE="lastcall/operator:dev"
NPM_VERSION="11.19.1"
REDIS_IMAGE="docker.io/library/redis:7"

rootfs="$(bash "$KIND_DIR/debian.sh" rootfs | tail -n 1)"
repo="$(bash "$KIND_DIR/debian.sh" repo | tail -n 1)"
bin="" # binaries.sh's directory: only the cluster images need it

# A container from the Debian minbase root filesystem (ca-certificates only).
from_base() {
  local c
  c="$(buildah from scratch)"
  buildah add --quiet "$c" "$rootfs/base.tar" / >/dev/null
  echo "$c"
}
# apt-get install from the local repository inside a container (no network needed).
apt_install() { # CONTAINER PACKAGES...
  local c="$1"
  shift
  buildah run --network none -v "$repo:/lastcall-repo:ro" "$c" -- sh -ec "
    echo 'deb [trusted=yes] file:/lastcall-repo $DEBIAN_SUITE main' >/etc/apt/sources.list
    apt-get -qq -o APT::Sandbox::User=root update
    DEBIAN_FRONTEND=noninteractive apt-get -qq -o APT::Sandbox::User=root install -y --no-install-recommends $* >/dev/null
    : >/etc/apt/sources.list
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb"
}
# A from-scratch image holding one static binary (what upstream ships on distroless).
static_image() { # NAME BINARY USER [ENTRYPOINT]
  local name="$1" binary="$2" user="$3" entry="${4:-}" c mnt
  c="$(buildah from scratch)"
  mnt="$(buildah mount "$c")"
  mkdir -p "$mnt/usr/local/bin" "$mnt/etc" "$mnt/tmp" "$mnt/var/run"
  chmod 1777 "$mnt/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$mnt/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$mnt/etc/group"
  echo 'hosts: files dns' >"$mnt/etc/nsswitch.conf"
  install -m 0755 "$bin/$binary" "$mnt/usr/local/bin/$binary"
  [ -z "$entry" ] || ln -s "usr/local/bin/$binary" "$mnt/$entry"
  buildah umount "$c" >/dev/null
  buildah config --env PATH=/usr/local/bin:/usr/bin:/bin --user "$user" \
    ${entry:+--entrypoint "[\"/$entry\"]"} "$c"
  buildah commit --quiet --rm "$c" "$name" >/dev/null
}

# kube-proxy must write its rules with the backend (legacy or nft) the node uses: kind's
# entrypoint picks one when the node starts, and the kubelet marks it (KUBE-IPTABLES-HINT).
# As upstream's image does (kubernetes-sigs/iptables-wrappers), the iptables commands are a
# wrapper that detects the mode on first use, points the commands at it and runs them.
iptables_wrapper() { # ROOTFS
  cat >"$1/usr/sbin/iptables-wrapper" <<'SH'
#!/bin/sh
set -e
count() { ("$1-save" -t mangle || true; "$2-save" -t mangle || true) 2>/dev/null | grep -c -E '^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)' || true; }
legacy="$(count iptables-legacy ip6tables-legacy)"
nft="$(count iptables-nft ip6tables-nft)"
if [ "$legacy" -gt 0 ] && [ "$nft" -eq 0 ]; then
  mode=legacy
elif [ "$nft" -gt 0 ] && [ "$legacy" -eq 0 ]; then
  mode=nft
else # no hint (or both): the backend holding more rules, legacy on a tie (as kind's entrypoint)
  legacy="$( (iptables-legacy-save || true; ip6tables-legacy-save || true) 2>/dev/null | grep -c '^-' || true)"
  nft="$( (iptables-nft-save || true; ip6tables-nft-save || true) 2>/dev/null | grep -c '^-' || true)"
  if [ "$legacy" -ge "$nft" ]; then mode=legacy; else mode=nft; fi
fi
for cmd in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -sf "xtables-$mode-multi" "/usr/sbin/$cmd"
done
exec "$0" "$@"
SH
  chmod 0755 "$1/usr/sbin/iptables-wrapper"
  local cmd
  for cmd in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf iptables-wrapper "$1/usr/sbin/$cmd"
  done
}

cluster() {
  local key out t0=$SECONDS
  bin="$(bash "$KIND_DIR/binaries.sh" | tail -n 1)"
  key="$(hash_of "$0" "-$(basename "$bin")" "-$(basename "$rootfs")")"
  out="$(stage_dir cluster-images "$key")"
  if is_complete "$out"; then step "cluster images: cached in $out"; echo "$out/preload.tar"; return; fi
  rm -rf "$out" && mkdir -p "$out"
  # The names kubeadm will ask the node for (its own list, as kind's node image build does).
  local names=() name
  mapfile -t names < <("$bin/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null)
  [ "${#names[@]}" -ge 6 ] || die "kubeadm config images list gave: ${names[*]}"
  for name in "${names[@]}"; do
    case "$name" in
      */pause:*) static_image "$name" pause 65535:65535 pause ;;
      */etcd:*) static_image "$name" etcd 0:0 ;;
      */coredns:*) static_image "$name" coredns 0:0 coredns ;;
      */kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:*)
        local b="${name##*/}"
        static_image "$name" "${b%%:*}" 0:0 ;;
      */kube-proxy:*)
        local c mnt
        c="$(from_base)"
        apt_install "$c" iptables nftables conntrack
        mnt="$(buildah mount "$c")"
        install -m 0755 "$bin/kube-proxy" "$mnt/usr/local/bin/kube-proxy"
        iptables_wrapper "$mnt"
        buildah umount "$c" >/dev/null
        buildah config --entrypoint '["/usr/local/bin/kube-proxy"]' "$c"
        buildah commit --quiet --rm "$c" "$name" >/dev/null ;;
      *) die "kubeadm asks for an image this script does not build: $name" ;;
    esac
    step "cluster images: built $name"
  done
  # The sample Redis (config/samples/redis.yaml: redis:7, UID 999, read-only root, /data).
  local c
  c="$(from_base)"
  apt_install "$c" redis-server
  buildah run --network none "$c" -- sh -ec 'mkdir -p /data && chown 999:999 /data'
  buildah config --workingdir /data --user 999:999 \
    --entrypoint '["redis-server", "--protected-mode", "no"]' --port 6379 "$c"
  buildah commit --quiet --rm "$c" "$REDIS_IMAGE" >/dev/null
  step "cluster images: built $REDIS_IMAGE (Debian's redis-server)"
  names+=("$REDIS_IMAGE")
  printf '%s\n' "${names[@]}" >"$out/images.txt"
  podman save --quiet -m --format docker-archive -o "$out/preload.tar" "${names[@]}"
  step "cluster images: ${#names[@]} images, $(du -h "$out/preload.tar" | cut -f1), in $((SECONDS - t0))s"
  mark_complete "$out"
  prune_stage "$out"
  echo "$out/preload.tar"
}

node_base() {
  local key name node_bin
  node_bin="$REPO_ROOT/node_modules/node/bin/node"
  [ -x "$node_bin" ] || die "no Node 24 binary at $node_bin: run npm ci first"
  key="$(hash_of "$0" "-$(basename "$rootfs")" "-$NPM_VERSION" "-$("$node_bin" --version)")"
  name="localhost/lastcall/node-base:$key"
  if podman image exists "$name"; then step "node base: cached ($name)"; echo "$name"; return; fi
  local t0=$SECONDS tgz="$KIND_CACHE/npm-$NPM_VERSION.tgz"
  if [ ! -f "$tgz" ]; then
    local d
    d="$(mktemp -d)"
    (cd "$d" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) && mv "$d/npm-$NPM_VERSION.tgz" "$tgz"
    rm -rf "$d"
  fi
  local c mnt
  c="$(from_base)"
  mnt="$(buildah mount "$c")"
  install -m 0755 "$node_bin" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules/npm"
  tar -xzf "$tgz" -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  # The official image's "node" user, 1000:1000 (the Dockerfile runs as USER 1000:1000).
  echo 'node:x:1000:1000::/home/node:/bin/sh' >>"$mnt/etc/passwd"
  echo 'node:x:1000:' >>"$mnt/etc/group"
  mkdir -p "$mnt/home/node" && chown 1000:1000 "$mnt/home/node"
  buildah umount "$c" >/dev/null
  buildah config --cmd '["node"]' "$c"
  buildah commit --quiet --rm "$c" "$name" >/dev/null
  step "node base: built $name ($("$node_bin" --version), npm $NPM_VERSION) in $((SECONDS - t0))s"
  echo "$name"
}

lastcall() {
  local base key out t0=$SECONDS
  base="$(node_base | tail -n 1)"
  # The build context (.dockerignore is an allow-list): a change to any of it rebuilds the images.
  local context=("$REPO_ROOT/Dockerfile" "$REPO_ROOT/.dockerignore") line path
  while IFS= read -r line; do
    case "$line" in '!'*)
      path="$REPO_ROOT/${line#!}"
      [ ! -e "${path%/}" ] || context+=("${path%/}") ;;
    esac
  done <"$REPO_ROOT/.dockerignore"
  key="$(hash_of "$0" "-$base" "${context[@]}")"
  out="$(stage_dir lastcall-images "$key")"
  if is_complete "$out"; then step "lastcall images: cached in $out"; echo "$out/lastcall.tar"; return; fi
  rm -rf "$out" && mkdir -p "$out"
  # npm ci in the build container must trust the machine's certificate authorities: the
  # CA bundle and an npmrc naming it are mounted read-only for the build only, never copied.
  local ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
  printf "cafile=/run/lastcall/ca.crt\nupdate-notifier=false\nfund=false\naudit=false\n" >"$out/npmrc"
  local mounts=(-v "$ca:/run/lastcall/ca.crt:ro" -v "$out/npmrc:/root/.npmrc:ro")
  local first="docker.io/lastcall/workload:${WORKLOAD_TAGS%% *}" names=() tag
  timed "buildah bud --target workload" buildah bud --quiet --layers --network host "${mounts[@]}" \
    --build-arg "NODE_IMAGE=$base" --target workload -t "$first" "$REPO_ROOT" >/dev/null
  for tag in $WORKLOAD_TAGS; do
    names+=("docker.io/lastcall/workload:$tag")
    buildah tag "$first" "docker.io/lastcall/workload:$tag"
  done
  timed "buildah bud --target operator" buildah bud --quiet --layers --network host "${mounts[@]}" \
    --build-arg "NODE_IMAGE=$base" --target operator -t "docker.io/$OPERATOR_IMAGE" "$REPO_ROOT" >/dev/null
  names+=("docker.io/$OPERATOR_IMAGE")
  rm -f "$out/npmrc"
  printf '%s\n' "${names[@]}" >"$out/images.txt"
  podman save --quiet -m --format docker-archive -o "$out/lastcall.tar" "${names[@]}"
  step "lastcall images: ${#names[@]} tags, $(du -h "$out/lastcall.tar" | cut -f1), in $((SECONDS - t0))s"
  mark_complete "$out"
  prune_stage "$out"
  echo "$out/lastcall.tar"
}

case "${1:-}" in
  cluster) cluster ;;
  node-base) node_base ;;
  lastcall) lastcall ;;
  *) die "usage: images.sh cluster|node-base|lastcall" ;;
esac
