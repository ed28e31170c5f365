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
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestServerLifecycle(t *testing.T) {
	s := Start(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}

	// A stalled server keeps the connection and answers nothing.
	s.Stop()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	start := time.Now()
	err := c.Ping(short).Err()
	cancel()
	if err == nil {
		t.Fatal("ping of a stopped server succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("ping of a stopped server took %v, want about the 100ms timeout", d)
	}
	s.Cont()

	// Without persistence a crash loses the data; the port is the same.
	s.Restart()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	if _, err := c.Get(ctx, "k").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("get after restart without persistence: got %v, want redis.Nil", err)
	}
}

func TestServerPersistence(t *testing.T) {
	s := Start(t, WithPersistence())
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	s.Restart()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("get after restart with persistence: %q, %v", v, err)
	}
}

func TestKilledServerRefuses(t *testing.T) {
	s := Start(t)
	s.Kill()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer func() { _ = c.Close() }()
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping of a killed server succeeded")
	}
}

func TestClusterAndSentinelStart(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Nodes) != 3 || !strings.Contains(c.URL(), "addr=") {
		t.Fatalf("cluster URL %s", c.URL())
	}
	m := Start(t)
	s := StartSentinel(t, m, "keypool")
	addr, err := redis.NewSentinelClient(&redis.Options{Addr: s.Addr()}).
		GetMasterAddrByName(context.Background(), "keypool").Result()
	if err != nil || addr[1] != strconv.Itoa(m.Port()) {
		t.Fatalf("sentinel's master: %v %v, want port %d", addr, err, m.Port())
	}
	tl := Start(t, WithTLS())
	if err := tl.Client().Ping(context.Background()).Err(); err != nil || tl.CAFile() == "" {
		t.Fatalf("ping over TLS: %v", err)
	}
}
