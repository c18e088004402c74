# Shared helpers for the kind path's scripts (sourced, not run).
# Every artefact lives under $KIND_CACHE/<stage>-<key>, where <key> is a hash of
# everything that stage is built from (its script, pinned versions, inputs), and
# counts as built only once <dir>/.complete exists: a stage interrupted half-way
# is rebuilt from scratch, a finished one is reused as it is.
set -euo pipefail

KIND_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$KIND_DIR/../.." && pwd)"
LASTCALL_CACHE="${LASTCALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lastcall}"
KIND_CACHE="$LASTCALL_CACHE/kind"

# Pinned versions: the binaries and the node image are keyed on versions.sh.
VERSIONS_FILE="$KIND_DIR/versions.sh"
source "$VERSIONS_FILE"

# Progress lines count seconds from the start of the whole run (shared with the sub-scripts).
: "${LASTCALL_KIND_EPOCH:=$(date +%s)}"
export LASTCALL_KIND_EPOCH
elapsed() { echo "$(($(date +%s) - LASTCALL_KIND_EPOCH))"; }
step() { printf '[kind +%ss] %s\n' "$(elapsed)" "$*" >&2; }
die() { printf 'e2e:kind: %s\n' "$*" >&2; exit 2; }

# hash_of FILE|DIR|-STRING...: a 16-hex key over file contents (directories: every
# file under them, sorted by path) and literal strings (prefixed with '-').
hash_of() {
  local item
  for item in "$@"; do
    if [ "${item#-}" != "$item" ]; then
      printf 'str:%s\n' "${item#-}"
    elif [ -d "$item" ]; then
      (cd "$item" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
    else
      printf 'file:%s\n' "$(basename "$item")"
      sha256sum <"$item"
    fi
  done | sha256sum | cut -c1-16
}

# stage_dir NAME KEY: the cache directory of one stage's artefacts.
stage_dir() { printf '%s/%s-%s' "$KIND_CACHE" "$1" "$2"; }
is_complete() { [ -f "$1/.complete" ]; }
mark_complete() { date -u +%FT%TZ >"$1/.complete"; }
# prune_stage DIR: once DIR is complete, other keys of the same stage are stale (a source or
# version change); remove them so the cache holds one of each (hundreds of MB each).
prune_stage() {
  local name stage
  name="$(basename "$1")"
  stage="${name%-*}"
  find "$KIND_CACHE" -mindepth 1 -maxdepth 1 -type d -name "$stage-*" ! -name "$name" -exec rm -rf {} +
}

# timed LABEL CMD...: runs CMD with a line before and the elapsed time after.
timed() {
  local label="$1" t0=$SECONDS
  shift
  step "$label ..."
  "$@"
  step "$label: done in $((SECONDS - t0))s"
}

# podman and buildah read the project's own configuration (nothing under /etc is
# edited): runc (crun refuses this machine's hybrid cgroup layout), cgroupfs,
# ulimits the VM allows (no CAP_SYS_RESOURCE: nofile <= 20000, nproc <= 32768),
# image storage in the cache (so the node image survives between runs), and the
# CNI network configurations (the kind bridge) in a private directory.
PODMAN_DIR="$KIND_CACHE/podman"
# Transient state (locks, mounts): podman's database remembers the directory it was created
# with, so it is one fixed path; run.sh removes it at teardown (podman recreates it).
PODMAN_RUN="/run/lastcall-kind"
use_podman_config() {
  mkdir -p "$PODMAN_DIR/storage" "$PODMAN_DIR/networks" "$PODMAN_RUN"
  cat >"$PODMAN_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_RUN/events.log"
tmp_dir = "$PODMAN_RUN/libpod"
[network]
network_backend = "cni"
network_config_dir = "$PODMAN_DIR/networks"
CONF
  cat >"$PODMAN_DIR/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$PODMAN_DIR/storage"
runroot = "$PODMAN_RUN/storage"
CONF
  cat >"$PODMAN_DIR/registries.conf" <<CONF
# No registry is reachable: every image is local (localhost/... or loaded archives).
unqualified-search-registries = []
short-name-mode = "permissive"
CONF
  export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"
  export CONTAINERS_STORAGE_CONF="$PODMAN_DIR/storage.conf"
  export CONTAINERS_REGISTRIES_CONF="$PODMAN_DIR/registries.conf"
}
