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

package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// statusLastPublished is the time of the last publishing pass in which every
// status write succeeded. Every replica exports it (0 until it leads), so
// that the alert KeyPoolStatusNotPublished can take the max across replicas
// and still fire when no replica leads.
var statusLastPublished = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "keypool_status_last_published_timestamp_seconds",
	Help: "Unix time of the last status publishing pass in which every write succeeded (0 on replicas that do not lead).",
})

// statusPublishErrors counts failed KeyPool status or Event writes.
var statusPublishErrors = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "keypool_status_publish_errors_total",
	Help: "KeyPool status writes that failed (retried on the next pass).",
})

func init() { ctrlmetrics.Registry.MustRegister(statusLastPublished, statusPublishErrors) }

// publishedAt records the outcome of one publishing pass.
func publishedAt(now time.Time, failed int) {
	if failed > 0 {
		statusPublishErrors.Add(float64(failed))
		return
	}
	statusLastPublished.Set(float64(now.Unix()))
}
