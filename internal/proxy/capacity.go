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

// Dimensions of keypool_capacity_remaining, in the order of capacityOf.
var capacityDimensions = [...]string{"requests", "input_tokens", "output_tokens", "tokens"}

var capacityDesc = prometheus.NewDesc("keypool_capacity_remaining",
	"What the keys of each pool have left of their known per-minute limits, by dimension "+
		"(requests, input_tokens, output_tokens, tokens); a limit group shared by several keys counts once.",
	[]string{labelNamespace, labelPool, "dimension"}, nil)

// NewCapacityCollector returns the collector of the gauge
// keypool_capacity_remaining{namespace,pool,dimension}, from GetStats. A
// dimension no key has a known limit for is not reported.
func NewCapacityCollector(reg *keypool.Registry) prometheus.Collector {
	return &poolCollector{reg: reg, desc: capacityDesc, pool: collectCapacity}
}

func collectCapacity(ch chan<- prometheus.Metric, namespace, name string, p *keypool.KeyPool) {
	var sum [len(capacityDimensions)]int64
	var known [len(capacityDimensions)]bool
	seen := map[string]bool{}
	for _, k := range p.GetStats().Keys {
		// Keys of one limit group share one set of limits.
		if k.LimitGroup != "" {
			if seen[k.LimitGroup] {
				continue
			}
			seen[k.LimitGroup] = true
		}
		for i, d := range capacityOf(k) {
			if d.limit > 0 && d.remaining >= 0 {
				sum[i] += d.remaining
				known[i] = true
			}
		}
	}
	for i, dim := range capacityDimensions {
		if known[i] {
			ch <- prometheus.MustNewConstMetric(capacityDesc, prometheus.GaugeValue, float64(sum[i]), namespace, name, dim)
		}
	}
}

type capacity struct{ limit, remaining int64 }

// capacityOf lists a key's limits in capacityDimensions' order.
func capacityOf(k keypool.KeyStats) [len(capacityDimensions)]capacity {
	return [...]capacity{
		{k.RPMLimit, k.RPMRemaining},
		{k.ITPMLimit, k.ITPMRemaining},
		{k.OTPMLimit, k.OTPMRemaining},
		{k.TPMLimit, k.TPMRemaining},
	}
}
