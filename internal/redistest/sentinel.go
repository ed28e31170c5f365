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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// failoverTimeout bounds each step of a failover: the replica's sync, the
// Sentinel learning of it, and the promotion.
const failoverTimeout = 20 * time.Second

// SentinelGroup is a master, one replica and a Sentinel watching them, the
// smallest setup a Sentinel can fail over.
type SentinelGroup struct {
	Master, Replica, Sentinel *Server
	Name                      string

	t      testing.TB
	client *redis.SentinelClient
}

// StartSentinelGroup starts the master, the replica and the Sentinel, and
// returns once the replica is in sync and the Sentinel knows it, so that a
// Failover can be accepted.
func StartSentinelGroup(t testing.TB, name string) *SentinelGroup {
	t.Helper()
	g := &SentinelGroup{Name: name, t: t, Master: Start(t)}
	g.Replica = Start(t, WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(g.Master.Port())))
	ctx := context.Background()
	g.await("the replica's sync", func() bool {
		info, _ := g.Replica.Client().Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	g.Sentinel = StartSentinel(t, g.Master, name)
	g.client = redis.NewSentinelClient(&redis.Options{Addr: g.Sentinel.Addr()})
	t.Cleanup(func() { _ = g.client.Close() })
	g.await("the Sentinel to know the replica", func() bool {
		rs, _ := g.client.Replicas(ctx, name).Result()
		return len(rs) == 1
	})
	return g
}

// URL is what a client in sentinel mode is given: the Sentinel and the
// master's name.
func (g *SentinelGroup) URL() string {
	return "redis://" + g.Sentinel.Addr() + "?master_name=" + g.Name
}

// Failover asks the Sentinel to promote the replica (SENTINEL FAILOVER)
// and returns once the Sentinel names the replica as the master.
func (g *SentinelGroup) Failover() {
	g.t.Helper()
	ctx := context.Background()
	// The Sentinel refuses (NOGOODSLAVE) until it has heard from the
	// replica on its own connection; asking again is the event to await.
	g.await("SENTINEL FAILOVER to be accepted", func() bool {
		err := g.client.Failover(ctx, g.Name).Err()
		return err == nil || strings.HasPrefix(err.Error(), "INPROG")
	})
	g.await("the replica to be master", func() bool {
		addr, _ := g.client.GetMasterAddrByName(ctx, g.Name).Result()
		return len(addr) == 2 && addr[1] == strconv.Itoa(g.Replica.Port())
	})
}

func (g *SentinelGroup) await(what string, cond func() bool) {
	g.t.Helper()
	if err := testproc.Poll(failoverTimeout, 20*time.Millisecond, func() error {
		if !cond() {
			return fmt.Errorf("waiting for %s", what)
		}
		return nil
	}); err != nil {
		g.t.Fatal(err)
	}
}
