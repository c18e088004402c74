# Pinned versions of the kind path (sourced by lib.sh). The binaries and the node
# image are keyed on this file, not on lib.sh's helpers.
KIND_VERSION="v0.33.0"
K8S_VERSION="v1.37.2"
CONTAINERD_VERSION="v2.3.4"
CRICTL_VERSION="v1.37.0"
ETCD_VERSION="v3.7.0"
COREDNS_VERSION="v1.14.6"
DEBIAN_SUITE="bookworm"
