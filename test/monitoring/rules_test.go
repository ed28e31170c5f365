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

// Package monitoring checks what the operator ships for Prometheus and
// Grafana: the alert rules (with promtool's own checker and unit tests)
// and the dashboard (every query against the metrics the proxy exports).
package monitoring

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// rulesFile is the PrometheusRule the kustomize tree and the chart ship.
var rulesFile = filepath.Join(testenv.RepoRoot(), "config", "prometheus", "keypool_rules.yaml")

// ruleGroups is a PrometheusRule's spec: what a Prometheus rule file holds.
type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Record string            `json:"record,omitempty"`
			Alert  string            `json:"alert,omitempty"`
			Expr   string            `json:"expr"`
			For    string            `json:"for,omitempty"`
			Labels map[string]string `json:"labels,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

// loadRules returns the PrometheusRule's spec and its YAML.
func loadRules(t *testing.T) (ruleGroups, []byte) {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	spec, err := yaml.Marshal(obj.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var groups ruleGroups
	if err := yaml.Unmarshal(spec, &groups); err != nil {
		t.Fatal(err)
	}
	return groups, spec
}

func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), "bin", "promtool")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s missing: run `make promtool`: %v", bin, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out.String())
	}
	t.Logf("promtool %v:\n%s", args, out.String())
}

// TestAlertRules runs `promtool check rules` and `promtool test rules` on
// the PrometheusRule's groups: every alert fires on its case and stays
// quiet on the cases that must not page.
func TestAlertRules(t *testing.T) {
	_, spec := loadRules(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "check", "rules", "rules.yaml")
	promtool(t, dir, "test", "rules", "alerts_test.yaml")
}

// TestEveryAlertIsUnitTested: each alert of the rule file has a promtool
// case that expects it to fire.
func TestEveryAlertIsUnitTested(t *testing.T) {
	groups, _ := loadRules(t)
	raw, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if !fires[r.Alert] {
				t.Errorf("alert %s has no promtool case where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s has no promtool case where it must not fire", r.Alert)
			}
		}
	}
}
