#!/usr/bin/env bash
# Host packages for the kind path, from Debian (run in the machine's own network
# namespace: it needs the package mirror). Installs only what is missing.
#   podman buildah: the kind provider and the image builder (configured by lib.sh's
#     use_podman_config, not through /etc)
#   runc: podman's runtime (crun refuses hybrid cgroup v1/v2 hosts)
#   containernetworking-plugins: podman's bridge (CNI backend)
#   debootstrap dpkg-dev: the Debian root filesystems of the node and base images
#   uidmap fuse-overlayfs iptables gcc libc6-dev: podman's helpers, the static pause
set -euo pipefail
source "$(dirname "$0")/lib.sh"

HOST_PACKAGES=(podman buildah runc containernetworking-plugins debootstrap dpkg-dev uidmap
  fuse-overlayfs iptables gcc libc6-dev)
missing=()
for p in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  step "host packages: all present"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them: apt-get install ${missing[*]}"
command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get: install them with your distribution's tools"
t0=$SECONDS
step "host packages: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
step "host packages: installed in $((SECONDS - t0))s"
