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

var affinityDesc = prometheus.NewDesc("keypool_affinity_total",
	"Prompt-cache affinity decisions of each pool with affinity on, by result: hit (the request went to the limit group "+
		"that served its conversation last), move (that group could not take it; the conversation follows the new one), "+
		"miss (a conversation the pool did not remember).",
	[]string{labelNamespace, labelPool, "result"}, nil)

// AffinityCollector reports the counter
// keypool_affinity_total{namespace,pool,result} from each pool's
// AffinityStats at scrape time; pools without affinity report nothing.
type AffinityCollector struct {
	reg *keypool.Registry
}

// NewAffinityCollector returns a collector over reg's pools.
func NewAffinityCollector(reg *keypool.Registry) *AffinityCollector {
	return &AffinityCollector{reg: reg}
}

// Describe implements prometheus.Collector.
func (c *AffinityCollector) Describe(ch chan<- *prometheus.Desc) { ch <- affinityDesc }

// Collect implements prometheus.Collector.
func (c *AffinityCollector) Collect(ch chan<- prometheus.Metric) {
	if c.reg == nil {
		return
	}
	c.reg.Range(func(namespace, name string, p *keypool.KeyPool) bool {
		if !p.AffinityEnabled() {
			return true
		}
		st := p.AffinityStats()
		for _, r := range [...]struct {
			result string
			n      int64
		}{{"hit", st.Hits}, {"move", st.Moves}, {"miss", st.Misses}} {
			ch <- prometheus.MustNewConstMetric(affinityDesc, prometheus.CounterValue, float64(r.n), namespace, name, r.result)
		}
		return true
	})
}
