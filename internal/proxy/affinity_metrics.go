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

// NewAffinityCollector returns the collector of the counter
// keypool_affinity_total{namespace,pool,result}, from each pool's
// AffinityStats; pools without affinity report nothing.
func NewAffinityCollector(reg *keypool.Registry) prometheus.Collector {
	return &poolCollector{reg: reg, desc: affinityDesc, pool: collectAffinity}
}

func collectAffinity(ch chan<- prometheus.Metric, namespace, name string, p *keypool.KeyPool) {
	if !p.AffinityEnabled() {
		return
	}
	st := p.AffinityStats()
	for _, r := range [...]struct {
		result string
		n      int64
	}{{"hit", st.Hits}, {"move", st.Moves}, {"miss", st.Misses}} {
		ch <- prometheus.MustNewConstMetric(affinityDesc, prometheus.CounterValue, float64(r.n), namespace, name, r.result)
	}
}
