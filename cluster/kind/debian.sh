#!/usr/bin/env bash
# Debian pieces of the kind path, made in the machine's own network namespace
# (the package mirror is reachable only from there), cached by content hash:
#   repo-<key>/      a local file:// repository: every .deb the node image and the
#                    Debian-based images need, with their whole dependency closure
#                    (apt-get --download-only against an empty dpkg status)
#   rootfs-<key>/    root filesystems made by debootstrap --variant=minbase from that
#                    repository: node.tar (the kind node's packages) and base.tar
#                    (ca-certificates only: the Node 24 base, redis, kube-proxy)
# Usage: debian.sh repo|rootfs   (prints the directory on its last line)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# What the kind node runs (kind's images/base/Dockerfile list, with Debian's runc and
# CNI plugins in place of the ones kind builds, and systemd-sysv for /sbin/init).
NODE_PACKAGES=(systemd systemd-sysv dbus libpam-systemd conntrack iptables nftables iproute2
  ethtool util-linux mount kmod libseccomp2 pigz fuse-overlayfs e2fsprogs bash ca-certificates
  curl jq procps runc containernetworking-plugins)
# The images built on the Debian base: redis (sample Redis), kube-proxy's tools.
IMAGE_PACKAGES=(ca-certificates redis-server iptables nftables conntrack)

repo() {
  local key out t0=$SECONDS
  key="$(hash_of "$0" "-$DEBIAN_SUITE" "-${NODE_PACKAGES[*]}" "-${IMAGE_PACKAGES[*]}")"
  out="$(stage_dir repo "$key")"
  if is_complete "$out"; then step "debian repository: cached in $out"; echo "$out"; return; fi
  rm -rf "$out" && mkdir -p "$out/pool/partial" "$out/dists/$DEBIAN_SUITE/main/binary-amd64" "$out/state"
  : >"$out/state/status"
  # minbase = Priority: required + apt (debootstrap's definition); usr-is-merged: bookworm's
  # debootstrap installs it to mark the merged /usr.
  local required
  mapfile -t required < <(apt-cache dumpavail | awk '/^Package:/{p=$2} /^Priority: required/{print p}' | sort -u)
  step "debian repository: downloading ${#required[@]} required + ${#NODE_PACKAGES[@]} node + ${#IMAGE_PACKAGES[@]} image packages and their dependencies"
  apt-get -qq -o Dir::State::status="$out/state/status" -o Dir::Cache::archives="$out/pool" \
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o APT::Install-Recommends=false --download-only -y install \
    "${required[@]}" apt usr-is-merged "${NODE_PACKAGES[@]}" "${IMAGE_PACKAGES[@]}" >/dev/null
  rm -rf "$out/pool/partial" "$out/pool/lock" "$out/state"
  (cd "$out" && dpkg-scanpackages -m pool /dev/null 2>/dev/null >"dists/$DEBIAN_SUITE/main/binary-amd64/Packages")
  gzip -9kn "$out/dists/$DEBIAN_SUITE/main/binary-amd64/Packages"
  {
    echo "Origin: lastcall"
    echo "Suite: $DEBIAN_SUITE"
    echo "Codename: $DEBIAN_SUITE"
    echo "Architectures: amd64"
    echo "Components: main"
    echo "SHA256:"
    for f in main/binary-amd64/Packages main/binary-amd64/Packages.gz; do
      printf ' %s %s %s\n' "$(sha256sum <"$out/dists/$DEBIAN_SUITE/$f" | cut -d' ' -f1)" \
        "$(stat -c %s "$out/dists/$DEBIAN_SUITE/$f")" "$f"
    done
  } >"$out/dists/$DEBIAN_SUITE/Release"
  step "debian repository: $(ls "$out/pool" | wc -l) packages, $(du -sh "$out/pool" | cut -f1), in $((SECONDS - t0))s"
  mark_complete "$out"
  echo "$out"
}

rootfs() {
  local repo key out t0=$SECONDS
  repo="$(repo | tail -n 1)"
  key="$(hash_of "$0" "-$(basename "$repo")")"
  out="$(stage_dir rootfs "$key")"
  if is_complete "$out"; then step "root filesystems: cached in $out"; echo "$out"; return; fi
  rm -rf "$out" && mkdir -p "$out"
  local work
  work="$(mktemp -d "$KIND_CACHE/tmp.rootfs.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  bootstrap() { # NAME PACKAGES...
    local name="$1" include
    shift
    include="$(IFS=,; echo "usr-is-merged,$*")"
    timed "debootstrap $name (minbase + $#)" nice -n 10 debootstrap --variant=minbase --no-check-gpg \
      --include="$include" "$DEBIAN_SUITE" "$work/$name" "file://$repo" >"$work/$name.log" 2>&1 ||
      { tail -n 30 "$work/$name.log" >&2; die "debootstrap $name failed (log above)"; }
    # No apt sources pointing at the build machine; nothing cached.
    rm -rf "$work/$name"/var/cache/apt/archives/*.deb "$work/$name"/var/lib/apt/lists/*
    : >"$work/$name/etc/apt/sources.list"
    tar --numeric-owner -C "$work/$name" -cf "$out/$name.tar" .
  }
  bootstrap base ca-certificates
  bootstrap node "${NODE_PACKAGES[@]}"
  step "root filesystems: base $(du -h "$out/base.tar" | cut -f1), node $(du -h "$out/node.tar" | cut -f1), in $((SECONDS - t0))s"
  mark_complete "$out"
  echo "$out"
}

case "${1:-}" in
  repo) repo ;;
  rootfs) rootfs ;;
  *) die "usage: debian.sh repo|rootfs" ;;
esac
