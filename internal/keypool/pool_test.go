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
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

func TestNewKeyPoolErrors(t *testing.T) {
	neg := keyCfgs(1)
	neg[0].ITPMLimit = -5
	dup := keyCfgs(2)
	dup[1].ID = dup[0].ID
	empty := keyCfgs(2)
	empty[1].APIKey = ""
	noID := keyCfgs(1)
	noID[0].ID = ""
	for name, tc := range map[string]struct {
		prov provider.Provider
		cfg  PoolConfig
	}{
		"no keys":          {provider.Anthropic, PoolConfig{}},
		"duplicate ID":     {provider.Anthropic, PoolConfig{Keys: dup}},
		"empty APIKey":     {provider.Anthropic, PoolConfig{Keys: empty}},
		"empty ID":         {provider.Anthropic, PoolConfig{Keys: noID}},
		"unknown strategy": {provider.Anthropic, PoolConfig{Keys: keyCfgs(1), Strategy: "fastest"}},
		"negative limit":   {provider.Anthropic, PoolConfig{Keys: neg}},
		"no provider":      {nil, PoolConfig{Keys: keyCfgs(1)}},
		"negative queue":   {provider.OpenAI, PoolConfig{Keys: keyCfgs(1), QueueTimeout: -1}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewKeyPool(tc.prov, tc.cfg)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			for _, k := range tc.cfg.Keys {
				if k.APIKey != "" && strings.Contains(err.Error(), k.APIKey) {
					t.Fatalf("error %q contains a key value", err)
				}
			}
		})
	}
}

func TestNewKeyPoolDefaults(t *testing.T) {
	u, _ := url.Parse("https://api.example.com")
	p, err := NewKeyPool(provider.Anthropic, PoolConfig{Keys: keyCfgs(3), Access: Access{Upstream: u, MaxAttempts: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Provider() != provider.Anthropic || p.Strategy() != StrategyLeastLoaded {
		t.Fatalf("provider %q strategy %q", p.Provider().Name(), p.Strategy())
	}
	if a := p.Access(); a == nil || a.Upstream.String() != u.String() || a.MaxAttempts != 2 {
		t.Fatalf("access = %+v", a)
	}
	if got := p.Keys(); !slices.Equal(got, []string{"k0", "k1", "k2"}) {
		t.Fatalf("Keys = %v", got)
	}
	st := p.GetStats()
	if st.TotalKeys != 3 || st.AvailableKeys != 3 || st.ExhaustedKeys != 0 || st.TotalRPM != 0 {
		t.Fatalf("stats = %+v", st)
	}
	for _, ks := range st.Keys {
		if ks.State != StateAvailable || ks.RPMRemaining != -1 || ks.ITPMRemaining != -1 || ks.OTPMRemaining != -1 {
			t.Fatalf("key stats = %+v", ks)
		}
	}
}
