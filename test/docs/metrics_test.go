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

package docs

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	// The controller registers its collectors (keypool_shared_limits_degraded)
	// with controller-runtime's registry when it is loaded, as in the manager.
	_ "github.com/keypool-dev/keypool-operator/internal/controller"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// metric is one metric as the code defines it or the doc describes it.
type metric struct {
	typ    string   // counter, gauge, histogram, summary
	labels []string // sorted
	where  string   // for messages: the collector or the doc line
}

// recorder is a Registerer that remembers what is registered with it.
type recorder struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

// Register implements prometheus.Registerer.
func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registerer.Register(c)
}

// MustRegister implements prometheus.Registerer.
func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

// codeMetrics returns the keypool_* metrics the running code defines: the
// collectors proxy.New registers (read from their descriptions, so a vector
// with no series yet counts too), and what controller-runtime's registry,
// which the manager serves, gathers.
func codeMetrics(t *testing.T) map[string]metric {
	t.Helper()
	out := map[string]metric{}
	reg := keypool.NewRegistry()
	anthropic, _ := provider.Lookup("anthropic")
	pool, err := keypool.NewKeyPool(anthropic, keypool.PoolConfig{Keys: []keypool.KeyConfig{{ID: "s/k", APIKey: "v", RPMLimit: 60}},
		Affinity: true}) // affinity on, so that keypool_affinity_total reports
	if err != nil {
		t.Fatal(err)
	}
	reg.Set("ns", "pool", pool) // so that collectors computed from the pools (key states, known capacity, affinity) report a series
	rec := &recorder{Registerer: prometheus.NewRegistry()}
	proxy.New(reg, proxy.Options{Metrics: rec, Logger: logr.Discard()})
	if len(rec.collectors) == 0 {
		t.Fatal("proxy.New registered no collectors")
	}
	for _, c := range rec.collectors {
		typ := collectorType(c)
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			s := d.String()
			n, l := descName.FindStringSubmatch(s), descLabels.FindStringSubmatch(s)
			if n == nil || l == nil {
				t.Fatalf("cannot read the name and labels of %s: prometheus.Desc's String format changed; adapt descName/descLabels", s)
			}
			var labels []string
			for _, v := range strings.Split(l[1], ",") {
				if v = strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")"); v != "" {
					labels = append(labels, v)
				}
			}
			slices.Sort(labels)
			out[n[1]] = metric{typ: typ, labels: labels, where: "registered by proxy.New"}
		}
	}
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "keypool_") {
			continue
		}
		var labels []string
		if ms := f.GetMetric(); len(ms) > 0 {
			for _, l := range ms[0].GetLabel() {
				labels = append(labels, l.GetName())
			}
		}
		slices.Sort(labels)
		out[f.GetName()] = metric{typ: strings.ToLower(f.GetType().String()), labels: labels,
			where: "gathered from controller-runtime's metrics registry"}
	}
	return out
}

// collectorType is the metric type of a collector: from its Go type for the
// client library's vectors (which may have no series yet), else from a
// metric it collects (a plain Gauge's interface also satisfies Counter, so
// only what it writes tells them apart).
func collectorType(c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.CounterVec:
		return "counter"
	case *prometheus.GaugeVec:
		return "gauge"
	case *prometheus.HistogramVec:
		return "histogram"
	case *prometheus.SummaryVec:
		return "summary"
	}
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	typ := "unknown (the collector reported no series)"
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			continue
		}
		switch {
		case pb.Counter != nil:
			typ = "counter"
		case pb.Gauge != nil:
			typ = "gauge"
		case pb.Histogram != nil:
			typ = "histogram"
		case pb.Summary != nil:
			typ = "summary"
		}
	}
	return typ
}

// metricNameInSource matches a metric name written in the code.
var metricNameInSource = regexp.MustCompile(`"(keypool_[a-z0-9_]+)"`)

// sourceMetricNames returns the keypool_* names written in non-test Go files
// of internal/ and cmd/, with where each first appears: a safety net for a
// metric registered where codeMetrics does not look.
func sourceMetricNames(t *testing.T) map[string]string {
	t.Helper()
	root := testenv.RepoRoot()
	out := map[string]string{}
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			for i, l := range strings.Split(string(b), "\n") {
				for _, m := range metricNameInSource.FindAllStringSubmatch(l, -1) {
					if _, ok := out[m[1]]; !ok {
						out[m[1]] = rel + ":" + strconv.Itoa(i+1)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// docMetrics reads the table of docs/reference/metrics.md's "## KeyPool metrics".
func docMetrics(t *testing.T) map[string]metric {
	t.Helper()
	rows, headers := sectionTables(t, "docs/reference/metrics.md", "## KeyPool metrics")
	out := map[string]metric{}
	for i, r := range rows {
		nameCol := column(t, r, headers[i], "Name")
		typCol, labCol := column(t, r, headers[i], "Type"), column(t, r, headers[i], "Labels")
		names := codeSpans(r.cells[nameCol])
		if len(names) != 1 {
			t.Errorf("%s: the Name cell %q must be one code span", r.where(), r.cells[nameCol])
			continue
		}
		labels := codeSpans(r.cells[labCol])
		if len(labels) == 0 && r.cells[labCol] != "none" {
			t.Errorf("%s: the Labels cell %q must list code spans, or say none", r.where(), r.cells[labCol])
		}
		slices.Sort(labels)
		if _, dup := out[names[0]]; dup {
			t.Errorf("%s: %s is documented twice", r.where(), names[0])
		}
		out[names[0]] = metric{typ: r.cells[typCol], labels: labels, where: r.where()}
	}
	return out
}

// TestMetricsTableIsWhatIsRegistered: every metric of docs/reference/metrics.md's
// table is registered with the documented type and labels, and every
// keypool_* metric of the code has a row.
func TestMetricsTableIsWhatIsRegistered(t *testing.T) {
	code, doc := codeMetrics(t), docMetrics(t)
	for _, name := range slices.Sorted(maps.Keys(doc)) {
		d := doc[name]
		c, ok := code[name]
		if !ok {
			t.Errorf("%s: %s is documented but no such metric is registered", d.where, name)
			continue
		}
		if c.typ != d.typ {
			t.Errorf("%s: %s is documented as a %s, the code's is a %s", d.where, name, d.typ, c.typ)
		}
		if !slices.Equal(c.labels, d.labels) {
			t.Errorf("%s: %s is documented with labels %q, the code's are %q (%s)", d.where, name, d.labels, c.labels, c.where)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(code)) {
		if _, ok := doc[name]; !ok {
			c := code[name]
			t.Errorf("docs/reference/metrics.md: %s (a %s with labels %q, %s) has no row in the \"## KeyPool metrics\" table", name, c.typ, c.labels, c.where)
		}
	}
	for name, where := range sourceMetricNames(t) {
		if _, ok := code[name]; !ok {
			t.Errorf("%s: metric name %s is in the code but neither proxy.New nor controller-runtime's registry reports it: "+
				"register it there, or teach test/docs/metrics_test.go where it lives", where, name)
		}
	}
}
