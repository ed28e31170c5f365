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
	"slices"

	"github.com/keypool-dev/keypool-operator/internal/quota"
)

// ClientConfig is one named client of a pool: the holder of a client token,
// named by the token's Secret data key.
type ClientConfig struct {
	// Name is the client's name (the data key of its token in the
	// client-token Secret); never the token.
	Name string
	// Weight is the client's share of a saturated pool relative to the other
	// clients'; <= 0 means 1.
	Weight int
	// MaxWaiters bounds the client's requests waiting for capacity; 0 means
	// its weight's share of the pool's MaxWaiters (at least 1).
	MaxWaiters int
	// Quota is the client's optional limits (see quota.Clients.Admit).
	Quota quota.Limits
	// Spent is what a previous process spent of the client's budgets; a
	// new pool (or a client new to it) starts from it when its periods
	// are the current ones.
	Spent *quota.Spent
}

func (c *ClientConfig) weight() int64 {
	if c.Weight <= 0 {
		return 1
	}
	return int64(c.Weight)
}

// ClientStats are one client's last minute and its requests waiting for
// capacity now.
type ClientStats struct {
	quota.Stats
	Waiting int
}

// Clients returns the pool's clients: their quotas, budgets and last
// minute of usage. Update reconfigures them in place.
func (p *KeyPool) Clients() *quota.Clients { return p.clients }

// ClientStats returns every configured client's last minute, sorted by
// name, with its requests waiting in the queue.
func (p *KeyPool) ClientStats() []ClientStats {
	stats := p.clients.Stats()
	if stats == nil {
		return nil
	}
	out := make([]ClientStats, len(stats))
	p.mu.Lock()
	for i := range stats {
		out[i].Stats = stats[i]
		if cq := p.queue.clients[stats[i].Name]; cq != nil {
			out[i].Waiting = cq.n
		}
	}
	p.mu.Unlock()
	return out
}

// configureClients installs cfg's clients: their weights and caps in the
// fair queue, and quotas for every name, configured or only holding a
// client token. p.mu is held.
func (p *KeyPool) configureClients(cfg *PoolConfig) {
	clients := slices.Clone(cfg.Clients)
	quotas := make([]quota.Client, 0, len(cfg.Clients)+len(cfg.Access.ClientNames))
	known := make(map[string]struct{}, cap(quotas))
	for _, c := range cfg.Clients {
		known[c.Name] = struct{}{}
		quotas = append(quotas, quota.Client{Name: c.Name, Limits: c.Quota, Spent: c.Spent})
	}
	for _, n := range cfg.Access.ClientNames {
		if _, ok := known[n]; !ok && n != "" {
			known[n] = struct{}{}
			clients = append(clients, ClientConfig{Name: n})
			quotas = append(quotas, quota.Client{Name: n})
		}
	}
	p.queue.configure(clients, p.maxWaiters)
	p.clients.Configure(quotas)
}
