#!/usr/bin/env bash
# Prepares a fresh machine for lastcall: the system packages the local cluster
# and the tests use, the npm dependencies (which bring Node.js 24 with them),
# and the upstream Kubernetes tools built from Go modules (cached).
# Safe to run again: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)   # bench:workload only; small
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]}) and run this again" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: note: the local cluster runs each pod in its own mount namespace and needs root" >&2
fi

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci (brings Node.js 24 as the 'node' package)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Through cluster/tools.ts, as every test run and `cluster up`: it holds the build lock in the cache,
# so a test started while this builds waits for this build instead of starting a second cold one.
echo "setup: upstream tools (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, vegeta)"
echo "setup: then the install and monitoring tools (helm, promtool: own modules, own cache key)"
node_modules/.bin/node cluster/cli.ts tools >/dev/null
echo "setup: done"
