//go:build tools

// Package tools pins the upstream Kubernetes, etcd and vegeta commands that the
// local cluster runs. No project logic lives here: build.sh builds these
// packages' main programs into a cache keyed by the versions in go.mod.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
