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

package keypool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/keypool-dev/keypool-operator/internal/clock"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// recorder collects transitions.
type recorder struct {
	mu  sync.Mutex
	all []Transition
}

func (r *recorder) add(t Transition) {
	r.mu.Lock()
	r.all = append(r.all, t)
	r.mu.Unlock()
}

func (r *recorder) list() []Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Transition(nil), r.all...)
}

// last returns the last transition of key id.
func (r *recorder) last(id string) (Transition, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.all) - 1; i >= 0; i-- {
		if r.all[i].KeyID == id {
			return r.all[i], true
		}
	}
	return Transition{}, false
}

// keyCfgs returns n unlimited keys k0..k(n-1) with values sk-k0...
func keyCfgs(n int) []KeyConfig {
	ks := make([]KeyConfig, n)
	for i := range ks {
		ks[i] = KeyConfig{ID: fmt.Sprintf("k%d", i), APIKey: fmt.Sprintf("sk-secret-%d", i)}
	}
	return ks
}

type fixture struct {
	t     *testing.T
	p     *KeyPool
	clock *clock.Fake
	rec   *recorder
}

func newFixture(t *testing.T, prov provider.Provider, cfg PoolConfig) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: clock.NewFake(t0), rec: &recorder{}}
	cfg.Clock = f.clock
	if cfg.OnTransition == nil {
		cfg.OnTransition = f.rec.add
	}
	p, err := NewKeyPool(prov, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	return f
}

// acquire acquires and fails the test on error.
func (f *fixture) acquire(opts AcquireOptions) Lease {
	f.t.Helper()
	l, err := f.p.Acquire(context.Background(), opts)
	if err != nil {
		f.t.Fatalf("Acquire: %v", err)
	}
	return l
}

// get returns the ID of the next key (GetKey).
func (f *fixture) get() string {
	f.t.Helper()
	id, _, err := f.p.GetKey(context.Background())
	if err != nil {
		f.t.Fatalf("GetKey: %v", err)
	}
	return id
}

// sequence returns the IDs of n GetKey calls.
func (f *fixture) sequence(n int) []string {
	f.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.get()
	}
	return ids
}

// exhausted asserts that Acquire fails with an ExhaustedError and returns it.
func (f *fixture) exhausted(opts AcquireOptions) *ExhaustedError {
	f.t.Helper()
	l, err := f.p.Acquire(context.Background(), opts)
	if err == nil {
		f.t.Fatalf("Acquire returned %s, want exhausted", l.KeyID)
	}
	var ee *ExhaustedError
	if !errors.As(err, &ee) || !errors.Is(err, ErrAllKeysExhausted) {
		f.t.Fatalf("err = %v, want *ExhaustedError", err)
	}
	return ee
}

func (f *fixture) stats(id string) KeyStats {
	f.t.Helper()
	for _, ks := range f.p.GetStats().Keys {
		if ks.ID == id {
			return ks
		}
	}
	f.t.Fatalf("no stats for %s", id)
	return KeyStats{}
}

func (f *fixture) state(id string) State { return f.stats(id).State }

func counts(ids []string) map[string]int {
	m := map[string]int{}
	for _, id := range ids {
		m[id]++
	}
	return m
}

func hdr(kv ...string) map[string][]string {
	h := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[canonical(kv[i])] = []string{kv[i+1]}
	}
	return h
}

// canonical is textproto's canonical form for the ASCII names used here.
func canonical(s string) string {
	parts := strings.Split(strings.ToLower(s), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// reject retires l's key the way the proxy does: Suspect, then a re-check
// that confirms the provider's verdict. It settles l.
func (f *fixture) reject(l *Lease) {
	f.t.Helper()
	lease := *l
	f.p.Suspect(l, time.Minute)
	f.p.Settle(l, Usage{})
	f.p.Confirm(lease.KeyID, lease.APIKey, false)
}
