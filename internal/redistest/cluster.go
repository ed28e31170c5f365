/*
Copyright 2026 The keypool-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// Cluster is a Redis Cluster of masters on loopback ports, each a Server,
// made with `redis-cli --cluster create`.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts masters redis-servers in cluster mode, joins them
// into one cluster with the 16384 slots split among them, and waits until
// every node says the cluster is ok.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found (it comes with redis-server): %v", err)
	}
	c := &Cluster{}
	addrs := make([]string, masters)
	for i := range masters {
		// The cluster bus needs a port of its own; by default it is the
		// port + 10000, which may be taken or out of range.
		bus, err := testproc.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, busPort, _ := net.SplitHostPort(bus)
		n := Start(t, WithArgs("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", busPort))
		c.Nodes = append(c.Nodes, n)
		addrs[i] = n.Addr()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		cl := n.Client()
		if err := testproc.Poll(startTimeout, 20*time.Millisecond, func() error {
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("node %s: cluster not ok yet", n.Addr())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// URL is the cluster's URL: the first node, the others as ?addr=.
func (c *Cluster) URL() string {
	u := c.Nodes[0].URL()
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr()
	}
	return u
}

// StartSentinel starts a Sentinel watching master under name, which
// declares the master down after one second without an answer and can
// fail over alone (quorum 1). Its URL (Addr) is what a client in sentinel
// mode is given, with ?master_name=name.
func StartSentinel(t testing.TB, master *Server, name string) *Server {
	t.Helper()
	return Start(t, func(s *Server) {
		s.conf = filepath.Join(s.dir, "sentinel.conf")
		conf := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]s 1\n"+
			"sentinel down-after-milliseconds %[1]s 1000\nsentinel failover-timeout %[1]s 5000\n",
			name, strconv.Itoa(master.port))
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s.extra = append(s.extra, "--sentinel")
		s.ready = "+monitor master " + name
	})
}
