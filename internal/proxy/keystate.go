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

package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

var keyStates = [...]keypool.State{
	keypool.StateAvailable, keypool.StateCoolingDown, keypool.StateRateLimited, keypool.StateRejected,
}

var keysDesc = prometheus.NewDesc("keypool_keys",
	"Keys of each pool by state (Available, CoolingDown, RateLimited, Rejected).",
	[]string{labelNamespace, labelPool, "state"}, nil)

// KeyStateCollector reports the gauge keypool_keys{namespace,pool,state}: how
// many keys of every pool in a Registry are in each state, computed from
// GetStats at scrape time, so it is always current and needs no calls from
// the controller. New registers one for its Registry with Options.Metrics.
type KeyStateCollector struct {
	reg *keypool.Registry
}

// NewKeyStateCollector returns a collector over reg's pools.
func NewKeyStateCollector(reg *keypool.Registry) *KeyStateCollector {
	return &KeyStateCollector{reg: reg}
}

// Describe implements prometheus.Collector.
func (c *KeyStateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- keysDesc }

// Collect implements prometheus.Collector.
func (c *KeyStateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.reg == nil {
		return
	}
	c.reg.Range(func(namespace, name string, p *keypool.KeyPool) bool {
		var counts [len(keyStates)]int
		for _, k := range p.GetStats().Keys {
			for i, s := range keyStates {
				if k.State == s {
					counts[i]++
					break
				}
			}
		}
		for i, s := range keyStates {
			ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(counts[i]), namespace, name, string(s))
		}
		return true
	})
}
