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

// poolCollector reports one metric family computed from every pool of a
// Registry at scrape time, so it is always current and needs no calls from
// the controller. New registers the proxy's with Options.Metrics.
type poolCollector struct {
	reg  *keypool.Registry
	desc *prometheus.Desc
	pool func(ch chan<- prometheus.Metric, namespace, name string, p *keypool.KeyPool)
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	if c.reg == nil {
		return
	}
	c.reg.Range(func(namespace, name string, p *keypool.KeyPool) bool {
		c.pool(ch, namespace, name, p)
		return true
	})
}

// NewKeyStateCollector returns the collector of the gauge
// keypool_keys{namespace,pool,state}: how many keys of every pool of reg
// are in each state, from GetStats.
func NewKeyStateCollector(reg *keypool.Registry) prometheus.Collector {
	return &poolCollector{reg: reg, desc: keysDesc, pool: collectKeyStates}
}

func collectKeyStates(ch chan<- prometheus.Metric, namespace, name string, p *keypool.KeyPool) {
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
}
