//go:build tools

// Package tools pins promtool, which checks and unit-tests the alerting rules in
// config/prometheus. A module of its own: Prometheus brings its own Kubernetes and cloud libraries.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
