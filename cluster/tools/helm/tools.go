//go:build tools

// Package tools pins helm, which the chart tests (charts/lastcall) lint, render, install, upgrade
// and uninstall with. A module of its own so that its Kubernetes libraries never move the local
// cluster's.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
