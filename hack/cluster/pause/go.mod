// Module github.com/meshgate/meshgate/hack/cluster/pause is the pod sandbox
// ("pause") program of make cluster's node.
module github.com/meshgate/meshgate/hack/cluster/pause

go 1.26.0
