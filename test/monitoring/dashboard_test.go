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

package monitoring

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	_ "github.com/keypool-dev/keypool-operator/internal/controller" // registers the controller's metrics, as in the manager
	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

var dashboardFile = filepath.Join(testenv.RepoRoot(), "config", "grafana", "keypool-dashboard.json")

// scrapeLabels are added by Prometheus to every series it scrapes from a
// pod (the ServiceMonitor keeps the series' own namespace: honorLabels).
var scrapeLabels = []string{"pod", "instance", "job", "service", "container", "endpoint"}

// exported maps every metric name a scrape of the manager returns to its
// label names; a histogram gives its _bucket (with le), _sum and _count.
type exported map[string][]string

// gatherAfterTraffic sends real requests of a named client through the
// proxy (served, shed at its in-flight cap) and gathers the proxy's
// registry together with the controller-runtime registry the manager serves
// it from. The client is named (its token's data key) so that the
// per-client series exist.
func gatherAfterTraffic(t *testing.T) exported {
	t.Helper()
	limits := map[string]fakeprovider.Limits{}
	for n := 1; n <= 3; n++ {
		limits["org-"+proxytest.KeyValue(n)] = fakeprovider.Limits{RPM: 1000, ITPM: 100000, OTPM: 20000}
	}
	s := proxytest.New(t, proxytest.Config{Provider: provider.Anthropic, Limits: limits, ClientNames: []string{"team-a"}}, func(w proxytest.Wiring) http.Handler {
		return proxy.New(w.Registry, proxy.Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics, MaxInFlight: 1})
	})
	send := func(stream bool) *http.Response {
		req, err := s.NewRequest(t.Context(), apitest.AnthropicBody("hello", stream))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.Front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send(false)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request: %d %s", resp.StatusCode, body)
	}
	// A held stream takes the one in-flight slot: the next request is shed.
	release := s.Fake.HoldStreams()
	held := send(true)
	if _, err := bufio.NewReader(held.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	shed := send(false)
	_, _ = io.Copy(io.Discard, shed.Body)
	_ = shed.Body.Close()
	if shed.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("request beyond the in-flight cap: %d, want 503", shed.StatusCode)
	}
	release()
	_, _ = io.Copy(io.Discard, held.Body)
	_ = held.Body.Close()
	s.WaitIdle()

	families, err := prometheus.Gatherers{s.Metrics, ctrlmetrics.Registry}.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := exported{}
	for _, f := range families {
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		names := slices.Sorted(maps.Keys(labels))
		if f.GetType() == dto.MetricType_HISTOGRAM {
			out[f.GetName()+"_bucket"] = append(slices.Clone(names), "le")
			out[f.GetName()+"_sum"] = names
			out[f.GetName()+"_count"] = names
			continue
		}
		out[f.GetName()] = names
	}
	return out
}

// dashboard is the part of the Grafana JSON that holds queries.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// promql parses queries as Prometheus does by default.
var promql = parser.NewParser(parser.Options{})

// grafanaVars replaces the dashboard's variables with values PromQL parses.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*", "$pool", ".*")

var labelValues = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

// TestDashboardQueriesUseExportedMetrics: every query of the dashboard
// parses, and names only metrics and labels a manager's scrape returns
// after real traffic (or the recording rules of the PrometheusRule).
func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	metrics := gatherAfterTraffic(t)
	known := withRecordingRules(t, metrics)

	queries := 0
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			queries++
			checkQuery(t, p.Title, grafanaVars.Replace(target.Expr), known, "")
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(selector, label)", v.Name, v.Definition)
			continue
		}
		checkQuery(t, "variable "+v.Name, grafanaVars.Replace(m[1]), known, m[2])
	}
	if queries < 10 {
		t.Errorf("%d queries checked; the dashboard has more panels", queries)
	}
	// Every family the proxy exports is on the dashboard, so none goes unseen.
	for _, name := range []string{"keypool_proxy_requests_total", "keypool_proxy_upstream_latency_seconds_bucket",
		"keypool_proxy_failovers_total", "keypool_proxy_tokens_total", "keypool_proxy_queue_wait_seconds_bucket",
		"keypool_proxy_queue_rejected_total", "keypool_proxy_shed_total", "keypool_keys", "keypool_capacity_remaining",
		"keypool_proxy_client_requests_total", "keypool_proxy_client_tokens_total"} {
		if _, ok := metrics[name]; !ok {
			t.Errorf("the proxy did not export %s after the traffic", name)
		}
		if !strings.Contains(string(raw), strings.TrimSuffix(name, "_bucket")) {
			t.Errorf("no dashboard panel shows %s", name)
		}
	}
}

// TestRecordingRulesUseExportedMetrics: the rule expressions too.
func TestRecordingRulesUseExportedMetrics(t *testing.T) {
	metrics := gatherAfterTraffic(t)
	known := withRecordingRules(t, metrics)
	groups, _ := loadRules(t)
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			checkQuery(t, "rule "+r.Record+r.Alert, r.Expr, known, "")
		}
	}
}

// withRecordingRules adds the PrometheusRule's recorded series, with the
// labels their expressions keep, to the exported metrics.
func withRecordingRules(t *testing.T, metrics exported) exported {
	t.Helper()
	known := maps.Clone(metrics)
	groups, _ := loadRules(t)
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			expr, err := promql.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("rule %s: %v", r.Record, err)
			}
			var grouping []string
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if agg, ok := n.(*parser.AggregateExpr); ok && grouping == nil && !agg.Without {
					grouping = slices.DeleteFunc(slices.Clone(agg.Grouping), func(l string) bool { return l == "le" })
				}
				return nil
			})
			known[r.Record] = grouping
		}
	}
	return known
}

// checkQuery parses expr and checks every selector's metric and label
// names and every aggregation's grouping labels against known; label, when
// set, must be a label of every selected metric.
func checkQuery(t *testing.T, where, expr string, known exported, label string) {
	t.Helper()
	node, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	has := func(metric, l string) bool {
		return slices.Contains(known[metric], l) || slices.Contains(scrapeLabels, l)
	}
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			labels, ok := known[n.Name]
			if !ok {
				t.Errorf("%s: metric %s is not exported (exported: %v)", where, n.Name, slices.Sorted(maps.Keys(known)))
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" && !has(n.Name, m.Name) {
					t.Errorf("%s: %s has no label %s (it has %v)", where, n.Name, m.Name, labels)
				}
			}
			if label != "" && !has(n.Name, label) {
				t.Errorf("%s: %s has no label %s", where, n.Name, label)
			}
		case *parser.AggregateExpr:
			var selected []string
			parser.Inspect(n.Expr, func(c parser.Node, _ []parser.Node) error {
				if vs, ok := c.(*parser.VectorSelector); ok {
					selected = append(selected, vs.Name)
				}
				return nil
			})
			for _, l := range n.Grouping {
				found := false
				for _, metric := range selected {
					found = found || has(metric, l)
				}
				if !found {
					t.Errorf("%s: grouping label %s is on none of %v", where, l, selected)
				}
			}
		}
		return nil
	})
}
