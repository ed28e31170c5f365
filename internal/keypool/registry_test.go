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
	"fmt"
	"sync"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	p1, _ := NewKeyPool(provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	p2, _ := NewKeyPool(provider.OpenAI, PoolConfig{Keys: keyCfgs(1)})
	if _, ok := r.Get("team-a", "claude"); ok {
		t.Fatal("empty registry found a pool")
	}
	r.Set("team-a", "claude", p1)
	r.Set("team-b", "claude", p2)
	if got, ok := r.Get("team-a", "claude"); !ok || got != p1 {
		t.Fatal("Get team-a/claude")
	}
	if got, _ := r.Get("team-b", "claude"); got != p2 {
		t.Fatal("Get team-b/claude")
	}
	// No confusion between "a/bc" and "ab/c".
	r.Set("a", "bc", p1)
	if _, ok := r.Get("ab", "c"); ok {
		t.Fatal("ab/c found")
	}
	seen := map[string]bool{}
	r.Range(func(ns, name string, p *KeyPool) bool {
		seen[ns+"/"+name] = true
		r.Delete(ns, name) // allowed during Range
		return true
	})
	if len(seen) != 3 || r.Len() != 0 {
		t.Fatalf("seen %v, %d left", seen, r.Len())
	}
	r.Delete("nope", "nope")
	if n := testing.AllocsPerRun(100, func() { r.Get("team-a", "claude") }); n != 0 {
		t.Fatalf("Get allocates %v", n)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r := NewRegistry()
	p, _ := NewKeyPool(provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				name := fmt.Sprint(i % 10)
				if w%2 == 0 {
					r.Set("ns", name, p)
					r.Delete("ns", fmt.Sprint((i+5)%10))
				} else if got, ok := r.Get("ns", name); ok && got != p {
					t.Error("wrong pool")
				}
			}
		})
	}
	wg.Wait()
}
