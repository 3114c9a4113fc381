//go:build tools

// The control-plane commands this module builds (scripts/interlink-stack.sh). The pod model places
// pods by nodeSelector, so kube-scheduler binds them to the virtual node.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
