// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3 so
// envtest can run a real etcd without downloading release binaries. It is the
// same entry point as upstream's etcd main package (go.etcd.io/etcd/v3, which
// cannot be used as a dependency).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
