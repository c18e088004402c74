//go:build tools

// Package nodetools pins the Kubernetes node binaries a kind node image holds
// (kubelet, kubeadm, kube-proxy). It is a sibling of cluster/tools: the same
// requirements and staging replaces (go.mod starts as a copy of that one), plus
// these commands, so both builds share the Go build cache. The control plane,
// kubectl and etcd come from cluster/tools/build.sh itself. No project logic
// lives here: cluster/kind/binaries.sh builds these main packages.
package nodetools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
