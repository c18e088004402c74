#!/usr/bin/env bash
# Endpoint propagation on a running kind cluster (LASTCALL_KIND_KEEP=1 npm run e2e:kind,
# podman provider): how long after a pod's DELETE kube-proxy stops routing new
# connections to it, i.e. what the preStop sleep (spec.drain.propagationSeconds) must cover.
# A CounterService with 3 replicas behind its Service; ROUNDS times: note a pod's IP, start a
# watcher in the node that polls kube-proxy's nat rules every 20 ms until the DNAT to that
# IP is gone, DELETE the pod, print the seconds between the two (same kernel clock), and
# wait for the replacement. Usage: propagation.sh [ROUNDS]   (default 10)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
use_podman_config
cd "$REPO_ROOT"
rounds="${1:-10}"
cluster="${LASTCALL_KIND_CLUSTER:-lastcall-e2e}"
netns="${LASTCALL_KIND_NETNS:-lastcall-kind}"
kubeconfig="$REPO_ROOT/.lastcall/kind/kubeconfig"
node="$cluster-control-plane"
ns="lastcall-propagation"
[ -e "/run/netns/$netns" ] || die "no network namespace $netns: start a cluster with LASTCALL_KIND_KEEP=1 npm run e2e:kind"
bin="$(bash "$KIND_DIR/binaries.sh" 2>/dev/null | tail -n 1)"
in_ns() { nsenter --net="/run/netns/$netns" "$@"; }
k() { in_ns "$bin/kubectl" --kubeconfig "$kubeconfig" -n "$ns" "$@"; }

# The e2e files remove the in-cluster operator when they finish: install lastcall again.
in_ns "$bin/kubectl" --kubeconfig "$kubeconfig" apply -k config/default >/dev/null
in_ns "$bin/kubectl" --kubeconfig "$kubeconfig" -n lastcall-system wait --for=condition=Available --timeout=180s deployment --all >/dev/null
k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -f config/samples/redis.yaml >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: lastcall.dev/v1alpha1
kind: CounterService
metadata: {name: prop}
spec:
  replicas: 3
  image: lastcall/workload:v1
  redis: {address: "redis:6379", key: propagation}
  work: {durationSeconds: 1}
YAML
selector="lastcall.dev/counterservice=prop"
ready() { k get pods -l "$selector" -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{"/"}{.status.containerStatuses[0].ready}{"\n"}{end}' | grep -cx '/true' || true; }
wait_ready() { for _ in $(seq 300); do [ "$(ready)" -ge 3 ] && return 0; sleep 0.5; done; die "the CounterService's 3 pods did not become ready"; }
wait_ready
results=()
for i in $(seq "$rounds"); do
  read -r pod ip < <(k get pods -l "$selector" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.podIP}{" "}{.metadata.deletionTimestamp}{"\n"}{end}' |
    awk 'NF == 2 {print; exit}')
  # The watcher: waits until the rule is there, says so, then until it is gone, and prints the time.
  in_ns podman exec "$node" bash -c "
    while ! iptables-save -t nat 2>/dev/null | grep -q -- '--to-destination $ip:'; do sleep 0.02; done
    echo present
    while iptables-save -t nat 2>/dev/null | grep -q -- '--to-destination $ip:'; do sleep 0.02; done
    date +%s.%N" >"$KIND_CACHE/propagation.out" 2>/dev/null &
  watcher=$!
  for _ in $(seq 100); do grep -q present "$KIND_CACHE/propagation.out" 2>/dev/null && break; sleep 0.1; done
  t0="$(date +%s.%N)"
  k delete pod "$pod" --wait=false >/dev/null
  wait "$watcher"
  t1="$(tail -n 1 "$KIND_CACHE/propagation.out")"
  s="$(echo "$t1 - $t0" | bc -l | sed 's/^\./0./')"
  results+=("$s")
  printf 'round %2d: %s (%s): rule gone %.2f s after the DELETE\n' "$i" "$pod" "$ip" "$s"
  sleep 1
  wait_ready
done
k delete counterservice prop --wait=true >/dev/null
k delete namespace "$ns" --wait=false >/dev/null
printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {printf "propagation over %d rounds: min %.2f s, median %.2f s, max %.2f s\n", NR, a[1], a[int((NR+1)/2)], a[NR]}'
