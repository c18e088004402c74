#!/usr/bin/env bash
# npm run e2e:kind: the end-to-end suite (test/e2e) against a kind cluster.
#  1. kind create cluster (cluster/kind/kind-config.yaml publishes NodePorts 30080 and 30081 on 127.0.0.1)
#  2. docker build the Dockerfile's targets: workload (tagged v1..v6, one tag per
#     rolling update the suite makes: the image is the same, only the tag changes,
#     as in the seed experiment) and operator (lastcall/operator:dev)
#  3. kind load docker-image, so the node never pulls them
#  4. kubectl apply -k config/default (lastcall) and wait for the operator
#  5. the same test files as on the local cluster, with LASTCALL_E2E_KUBECONFIG
# Environment: LASTCALL_KIND_CLUSTER (name, default lastcall-e2e),
# LASTCALL_KIND_NODE_IMAGE (kindest/node image; needs Kubernetes >= 1.30 for the
# native preStop sleep), LASTCALL_KIND_KEEP=1 (leave the cluster running).
set -euo pipefail
cd "$(dirname "$0")/../.."

cluster="${LASTCALL_KIND_CLUSTER:-lastcall-e2e}"
WORKLOAD_TAGS="v1 v2 v3 v4 v5 v6"
OPERATOR_IMAGE="lastcall/operator:dev"
state=".lastcall/kind"
kubeconfig="$PWD/$state/kubeconfig"

for tool in kind docker; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "e2e:kind: '$tool' is not installed; it needs kind (https://kind.sigs.k8s.io) and a Docker engine" >&2
    exit 2
  fi
done
if ! docker info >/dev/null 2>&1; then
  echo "e2e:kind: the Docker engine does not answer ('docker info' failed); start it and run this again" >&2
  exit 2
fi

step() { echo "e2e:kind: $*"; }
mkdir -p "$state"

# kubectl and vegeta: the same builds the local cluster uses (cached after the first build).
bin="$(bash cluster/tools/build.sh | tail -n 1)"
kubectl=("$bin/kubectl" --kubeconfig "$kubeconfig")

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  step "reusing kind cluster $cluster"
  kind get kubeconfig --name "$cluster" >"$kubeconfig"
else
  step "creating kind cluster $cluster"
  node_image=()
  if [ -n "${LASTCALL_KIND_NODE_IMAGE:-}" ]; then node_image=(--image "$LASTCALL_KIND_NODE_IMAGE"); fi
  kind create cluster --name "$cluster" --config cluster/kind/kind-config.yaml --kubeconfig "$kubeconfig" \
    --wait 120s "${node_image[@]}"
fi
cleanup() {
  if [ "${LASTCALL_KIND_KEEP:-}" = "1" ]; then
    step "kind cluster $cluster keeps running: KUBECONFIG=$kubeconfig; delete it with: kind delete cluster --name $cluster"
  else
    step "deleting kind cluster $cluster"
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

step "building images from the Dockerfile"
first_tag="${WORKLOAD_TAGS%% *}"
docker build --target workload -t "lastcall/workload:$first_tag" .
workload_images=()
for tag in $WORKLOAD_TAGS; do
  docker tag "lastcall/workload:$first_tag" "lastcall/workload:$tag"
  workload_images+=("lastcall/workload:$tag")
done
docker build --target operator -t "$OPERATOR_IMAGE" .

# The sample Redis (config/samples/redis.yaml) is pulled here once, not by the node on every run.
redis_image="$(awk '$1=="image:"{print $2; exit}' config/samples/redis.yaml)"
docker image inspect "$redis_image" >/dev/null 2>&1 || docker pull "$redis_image"

step "loading the images into the kind node"
kind load docker-image --name "$cluster" "${workload_images[@]}" "$OPERATOR_IMAGE" "$redis_image"

step "installing lastcall (config/default)"
"${kubectl[@]}" apply -k config/default
"${kubectl[@]}" wait --for=condition=Established --timeout=60s crd/counterservices.lastcall.dev
"${kubectl[@]}" -n lastcall-system wait --for=condition=Available --timeout=180s deployment --all

step "running the end-to-end suite (test/e2e) with LASTCALL_E2E_KUBECONFIG=$kubeconfig"
LASTCALL_E2E_KUBECONFIG="$kubeconfig" npx vitest run --project cluster test/e2e
