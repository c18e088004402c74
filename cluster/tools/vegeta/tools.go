//go:build tools

// Package tools pins vegeta, the load generator of the original experiment.
// It is a module of its own so that its dependencies never move Kubernetes'.
package tools

import _ "github.com/tsenart/vegeta/v12"
