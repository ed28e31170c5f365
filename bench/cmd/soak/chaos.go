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

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// faultKinds are the faults the soak switches on. Each fails a request
// before the proxy sent a byte to the client, so the client always gets a
// complete answer: a success through failover or a well-formed error.
// Faults that cut a response the client already receives (mid-stream
// resets) end in a truncated body by design; test/faults covers them.
var faultKinds = []func(key string) fakeprovider.Fault{
	func(key string) fakeprovider.Fault {
		return fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Key: key, RetryAfter: time.Duration(1+rand.IntN(3)) * time.Second}
	},
	func(key string) fakeprovider.Fault {
		return fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Key: key}
	},
	func(key string) fakeprovider.Fault {
		return fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Key: key, Status: 500}
	},
	func(key string) fakeprovider.Fault {
		return fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Key: key, Status: 529}
	},
	func(key string) fakeprovider.Fault {
		return fakeprovider.Fault{Kind: fakeprovider.FaultReset, Key: key}
	},
	func(key string) fakeprovider.Fault {
		return fakeprovider.Fault{Kind: fakeprovider.FaultSlowHeaders, Key: key, Delay: 2 * headerTimeout}
	},
	func(key string) fakeprovider.Fault {
		return fakeprovider.Fault{Kind: fakeprovider.FaultSlowStream, Key: key, Delay: 100 * time.Millisecond}
	},
}

// chaos switches faults on (each for a limited number of requests) and
// rotates keys until ctx is done.
func chaos(ctx context.Context, s *system, cfg config) {
	faults := time.NewTicker(cfg.faultEvery)
	defer faults.Stop()
	rotate := time.NewTicker(cfg.rotateEvery)
	defer rotate.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-faults.C:
			s.injectFault()
		case <-rotate.C:
			for _, lp := range s.pools {
				if err := s.rotate(lp); err != nil {
					fmt.Fprintln(os.Stderr, "soak: rotation:", err)
				}
			}
		}
	}
}

// injectFault sets one random fault on one current key of a random pool,
// or now and then on every key, for a random number of requests.
func (s *system) injectFault() {
	key := ""
	if rand.IntN(5) > 0 {
		spec := poolSpecs[rand.IntN(len(poolSpecs))]
		lp := s.pools[spec.name]
		k := rand.IntN(keysPerPool)
		lp.mu.Lock()
		key = spec.keyValue(k, lp.version[k])
		lp.mu.Unlock()
	}
	f := faultKinds[rand.IntN(len(faultKinds))](key)
	f.Count = 5 + rand.IntN(25)
	if err := s.fake.SetFault(f); err != nil {
		fmt.Fprintln(os.Stderr, "soak: fault:", err)
		return
	}
	s.faultsSet.Add(1)
}

// rotate gives one key of lp a new value, as a Secret update does (the
// controller calls pool.Update), and then revokes the old value at the
// provider, so requests still in flight with it get 401 and fail over.
func (s *system) rotate(lp *livePool) error {
	k := rand.IntN(keysPerPool)
	lp.mu.Lock()
	old := lp.spec.keyValue(k, lp.version[k])
	lp.version[k] = (lp.version[k] + 1) % versions
	fresh := lp.spec.keyValue(k, lp.version[k])
	cfg := lp.config()
	lp.mu.Unlock()
	// After a wrap-around the version was revoked once: issue it again.
	if err := s.fake.RestoreKey(fresh); err != nil {
		return err
	}
	if err := lp.pool.Update(cfg); err != nil {
		return err
	}
	s.rotations.Add(1)
	return s.fake.RevokeKey(old)
}
