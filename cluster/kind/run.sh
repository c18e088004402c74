#!/usr/bin/env bash
# npm run e2e:kind [-- vitest file filters]: the end-to-end suite (test/e2e) against a
# real kind cluster, then everything torn down. Two providers, detected:
#
# Subcommands: `up` builds what is missing, creates the namespace and the cluster when absent,
# loads the images, installs lastcall and keeps it all running (no suite); its stdout's last two
# lines are the network namespace to enter (empty for the docker provider) and the kubeconfig
# path (`npm run experiment -- --cluster kind` uses them). `down` removes a kept cluster.
#
# podman (this project's machines: no Docker, no registry, only loopback may be dialled)
#  1. host packages (host.sh), binaries from Go modules (binaries.sh), the Debian root
#     filesystems (debian.sh), the cluster images and the node image (images.sh cluster,
#     node-image.sh), lastcall's images from the Dockerfile (images.sh lastcall): all in
#     the machine's own network namespace, each cached by content hash in
#     ~/.cache/lastcall/kind/ (a warm run rebuilds nothing);
#  2. a network namespace of the project's own (ip netns add lastcall-kind), entered with
#     nsenter --net (not `ip netns exec`, which remounts /sys and hides the cgroup mounts):
#     podman, its bridge, the node container and every client (kind, kubectl, the tests and
#     their load) live there, so nothing in the machine's namespace dials a private address;
#  3. kind create cluster (KIND_EXPERIMENTAL_PROVIDER=podman, kind-config.podman.yaml:
#     NodePorts 30080 and 30081 on the namespace's 127.0.0.1), routes in the namespace to the
#     node's pod range and the service range via the node container (the soak's probes dial
#     pod IPs and ClusterIPs), kind load image-archive (the workload tagged v1..v6, one tag
#     per rolling update, and the operator);
#  4. kubectl apply -k config/default, wait for the operator;
#  5. the same test files as on the local cluster, with LASTCALL_E2E_KUBECONFIG;
#  6. kind delete cluster, the namespace removed; the machine-wide sysctls (fs, kernel, vm)
#     compared with those before the run: any change fails the run.
#
# docker (a developer machine with Docker and kind): kind's own node image (kindest/node,
# Kubernetes >= 1.30 for the native preStop sleep), docker build, kind load docker-image.
#
# Environment: LASTCALL_KIND_PROVIDER=podman|docker (default: docker when a Docker engine
# answers and kind is installed, else podman), LASTCALL_KIND_CLUSTER (default lastcall-e2e),
# LASTCALL_KIND_NODE_IMAGE (docker provider: the kindest/node image), LASTCALL_KIND_KEEP=1
# (leave the cluster, and the namespace, running; the next run reuses them).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

cluster="${LASTCALL_KIND_CLUSTER:-lastcall-e2e}"
WORKLOAD_TAGS="v1 v2 v3 v4 v5 v6"
OPERATOR_IMAGE="lastcall/operator:dev"
state=".lastcall/kind"
kubeconfig="$PWD/$state/kubeconfig"
command="test"
case "${1:-}" in
  up | down) command="$1" && shift ;;
esac
tests=("$@")
if [ "$command" = "up" ]; then LASTCALL_KIND_KEEP=1; fi
[ "${#tests[@]}" -gt 0 ] || tests=(test/e2e)
mkdir -p "$state"

provider="${LASTCALL_KIND_PROVIDER:-}"
if [ -z "$provider" ]; then
  if command -v docker >/dev/null 2>&1 && command -v kind >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    provider=docker
  else
    provider=podman
  fi
fi

# Stage timings, printed at the end (cold and warm runs differ only in the build stages).
timings=()
stage() { # LABEL CMD...
  local label="$1" t0=$SECONDS
  shift
  step "$label"
  "$@"
  timings+=("$(printf '%-34s %5ss' "$label" "$((SECONDS - t0))")")
}
print_timings() {
  step "stage timings:"
  local t
  for t in "${timings[@]}"; do echo "    $t" >&2; done
  echo "    $(printf '%-34s %5ss' total "$(elapsed)")" >&2
}

# ---- machine-wide settings: the node container must change none ----------------------
# Every fs., kernel. and vm. sysctl except counters that move by themselves.
VOLATILE_SYSCTLS='^(fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr|dquot-nr|quota\.)|kernel\.(random\.|ns_last_pid|pty\.nr|sched_domain)|vm\.stat_interval)'
sysctl_snapshot() { sysctl -a 2>/dev/null | grep -E '^(fs|kernel|vm)\.' | grep -vE "$VOLATILE_SYSCTLS" | LC_ALL=C sort; }
sysctl_compare() { # BEFORE AFTER
  if ! diff -u "$1" "$2" >"$state/sysctl.diff"; then
    step "FAILED: machine-wide sysctls changed during the run (before vs after):"
    grep '^[-+][a-z]' "$state/sysctl.diff" >&2
    return 1
  fi
  step "machine-wide sysctls unchanged ($(wc -l <"$2") fs/kernel/vm values compared)"
}

NETNS="${LASTCALL_KIND_NETNS:-lastcall-kind}"
in_ns() { nsenter --net="/run/netns/$NETNS" "$@"; }

run_podman() {
  [ "$(id -u)" = 0 ] || die "the podman provider needs root (network namespace, rootful podman)"

  stage "host packages (host.sh)" bash "$KIND_DIR/host.sh"
  use_podman_config
  local node_image lastcall_tar
  stage "binaries (binaries.sh)" bash "$KIND_DIR/binaries.sh" >"$state/bin.out"
  bin="$(tail -n 1 "$state/bin.out")"
  stage "debian repository and root filesystems" bash "$KIND_DIR/debian.sh" rootfs >/dev/null
  stage "cluster images (images.sh cluster)" bash "$KIND_DIR/images.sh" cluster >/dev/null
  stage "node image (node-image.sh)" bash "$KIND_DIR/node-image.sh" >"$state/node-image.out"
  node_image="$(tail -n 1 "$state/node-image.out")"
  stage "lastcall images (Dockerfile)" bash "$KIND_DIR/images.sh" lastcall >"$state/lastcall.out"
  lastcall_tar="$(tail -n 1 "$state/lastcall.out")"
  local kubectl=("$bin/kubectl" --kubeconfig "$kubeconfig")
  local kind=(env KIND_EXPERIMENTAL_PROVIDER=podman "$bin/kind")

  sysctl_snapshot >"$state/sysctl.before"
  [ -e "/run/netns/$NETNS" ] || ip netns add "$NETNS"
  in_ns ip link set lo up
  # kind mounts the host's /lib/modules read-only into the node; this VM has none.
  if [ ! -e /lib/modules ]; then
    mkdir /lib/modules
    touch "$state/made-lib-modules"
  fi

  teardown() {
    local rc=$?
    set +e
    if [ "${LASTCALL_KIND_KEEP:-}" = "1" ]; then
      step "kind cluster $cluster keeps running in the network namespace $NETNS:"
      step "  nsenter --net=/run/netns/$NETNS env KUBECONFIG=$kubeconfig $bin/kubectl get pods -A"
      step "  remove it with: bash cluster/kind/run.sh down"
    else
      stage "teardown" podman_down
    fi
    sysctl_snapshot >"$state/sysctl.after"
    sysctl_compare "$state/sysctl.before" "$state/sysctl.after" || rc=1
    print_timings
    exit "$rc"
  }
  trap teardown EXIT

  if in_ns "${kind[@]}" get clusters 2>/dev/null | grep -qx "$cluster"; then
    step "reusing kind cluster $cluster"
    in_ns "${kind[@]}" get kubeconfig --name "$cluster" >"$kubeconfig"
  else
    stage "kind create cluster" in_ns "${kind[@]}" create cluster --name "$cluster" --image "$node_image" \
      --config "$KIND_DIR/kind-config.podman.yaml" --kubeconfig "$kubeconfig" --wait 180s
  fi
  stage "routes to the pod and service ranges" route_cluster_ranges in_ns "${kubectl[@]}"
  stage "kind load image-archive" in_ns "${kind[@]}" load image-archive --name "$cluster" "$lastcall_tar"
  stage "install lastcall (config/default)" install_lastcall in_ns "${kubectl[@]}"
  if [ "$command" = "up" ]; then
    printf '%s\n%s\n' "$NETNS" "$kubeconfig"
    return
  fi
  # LASTCALL_KIND_ROUTED: the pod and service ranges are routed here (experiment/kind.ts)
  stage "e2e suite (${tests[*]})" in_ns env LASTCALL_E2E_KUBECONFIG="$kubeconfig" LASTCALL_KIND_ROUTED=1 \
    npx vitest run --project cluster "${tests[@]}"
}

# Deletes the cluster, the podman network and the namespace (also: bash cluster/kind/run.sh down).
podman_down() {
  if [ -e "/run/netns/$NETNS" ]; then
    [ -n "$bin" ] || bin="$(bash "$KIND_DIR/binaries.sh" 2>/dev/null | tail -n 1)"
    use_podman_config
    in_ns env KIND_EXPERIMENTAL_PROVIDER=podman "$bin/kind" delete cluster --name "$cluster" >&2 || true
    in_ns podman network rm -f kind >/dev/null 2>&1 || true
    ip netns del "$NETNS"
  fi
  rm -rf "$PODMAN_RUN"
  if [ -f "$state/made-lib-modules" ]; then
    rmdir /lib/modules 2>/dev/null || true
    rm -f "$state/made-lib-modules"
  fi
}

# The soak's probes (experiment/soak/probes.ts) dial pod IPs (/metrics) and the Redis ClusterIP
# from inside the namespace, as a client on the node's network would: route each node's pod range
# (spec.podCIDR; the static ptp CNI routes it to the pods) and the service range (the ServiceCIDR
# `kubernetes`; kube-proxy on the node DNATs it) to that node's container. Only the project's
# namespace's routing table changes (gone with the namespace); `replace` keeps a reuse idempotent.
route_cluster_ranges() { # RUNNER... (kubectl command line)
  local ranges service_cidr pod_cidr node_ip gateway="" complete _
  # A node is Ready before the controller manager has given it its pod range: wait for that.
  for _ in $(seq 90); do
    ranges="$("$@" get nodes -o \
      jsonpath='{range .items[*]}{.spec.podCIDR}|{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' || true)"
    service_cidr="$("$@" get servicecidrs kubernetes -o jsonpath='{.spec.cidrs[0]}' 2>/dev/null || true)"
    complete=1
    while IFS='|' read -r pod_cidr node_ip; do
      [ -n "$pod_cidr" ] && [ -n "$node_ip" ] || complete=0
    done <<<"$ranges"
    [ "$complete" = 1 ] && [ -n "$service_cidr" ] && break
    sleep 1
  done
  [ "$complete" = 1 ] && [ -n "$service_cidr" ] ||
    die "no pod range, node address or service range to route after 90 s: nodes '$ranges', service range '$service_cidr'"
  while IFS='|' read -r pod_cidr node_ip; do
    node_ip="${node_ip%% *}" # the first InternalIP (IPv4 on this single-stack cluster)
    in_ns ip route replace "$pod_cidr" via "$node_ip"
    step "route $pod_cidr via $node_ip (pods)"
    gateway="$node_ip"
  done <<<"$ranges"
  # one node: its container is the way to every ClusterIP
  in_ns ip route replace "$service_cidr" via "$gateway"
  step "route $service_cidr via $gateway (services)"
}

install_lastcall() { # RUNNER... (kubectl command line)
  "$@" apply -k config/default >&2
  "$@" wait --for=condition=Established --timeout=60s crd/counterservices.lastcall.dev >&2
  "$@" -n lastcall-system wait --for=condition=Available --timeout=180s deployment --all >&2
}

run_docker() {
  for tool in kind docker; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed; the docker provider needs kind and a Docker engine"
  done
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer ('docker info' failed); start it and run this again"
  # kubectl and vegeta: the same builds the local cluster uses (cached after the first build).
  local bin
  bin="$(bash cluster/tools/build.sh | tail -n 1)"
  local kubectl=("$bin/kubectl" --kubeconfig "$kubeconfig")

  if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    step "reusing kind cluster $cluster"
    kind get kubeconfig --name "$cluster" >"$kubeconfig"
  else
    local node_image=()
    if [ -n "${LASTCALL_KIND_NODE_IMAGE:-}" ]; then node_image=(--image "$LASTCALL_KIND_NODE_IMAGE"); fi
    stage "kind create cluster" kind create cluster --name "$cluster" --config cluster/kind/kind-config.yaml \
      --kubeconfig "$kubeconfig" --wait 120s "${node_image[@]}"
  fi
  cleanup() {
    local rc=$?
    if [ "${LASTCALL_KIND_KEEP:-}" = "1" ]; then
      step "kind cluster $cluster keeps running: KUBECONFIG=$kubeconfig; delete it with: kind delete cluster --name $cluster"
    else
      step "deleting kind cluster $cluster"
      kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
    fi
    print_timings
    exit "$rc"
  }
  trap cleanup EXIT

  local first_tag="${WORKLOAD_TAGS%% *}" workload_images=() tag
  stage "docker build --target workload" docker build --target workload -t "lastcall/workload:$first_tag" .
  for tag in $WORKLOAD_TAGS; do
    docker tag "lastcall/workload:$first_tag" "lastcall/workload:$tag"
    workload_images+=("lastcall/workload:$tag")
  done
  stage "docker build --target operator" docker build --target operator -t "$OPERATOR_IMAGE" .
  # The sample Redis (config/samples/redis.yaml) is pulled here once, not by the node on every run.
  local redis_image
  redis_image="$(awk '$1=="image:"{print $2; exit}' config/samples/redis.yaml)"
  docker image inspect "$redis_image" >/dev/null 2>&1 || docker pull "$redis_image"
  stage "kind load docker-image" kind load docker-image --name "$cluster" "${workload_images[@]}" "$OPERATOR_IMAGE" "$redis_image"
  stage "install lastcall (config/default)" install_lastcall "${kubectl[@]}"
  if [ "$command" = "up" ]; then
    printf '\n%s\n' "$kubeconfig"
    return
  fi
  stage "e2e suite (${tests[*]})" env LASTCALL_E2E_KUBECONFIG="$kubeconfig" \
    npx vitest run --project cluster "${tests[@]}"
}

bin="" # binaries.sh's directory (podman provider)
if [ "$command" = "down" ]; then
  podman_down
  exit 0
fi
label="e2e:kind"
[ "$command" != "up" ] || label="kind up"
step "$label: provider $provider, cluster $cluster"
case "$provider" in
  podman) run_podman ;;
  docker) run_docker ;;
  *) die "LASTCALL_KIND_PROVIDER=$provider: expected podman or docker" ;;
esac
