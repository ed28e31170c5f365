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
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

var (
	// flagSpan is a code span that is a manager flag: `--name` or `--name=value`.
	flagSpan = regexp.MustCompile(`^--([a-z0-9-]+)(?:=.*)?$`)
	// fieldSpan is a KeyPool field: `spec.keys[].limitGroup`, `status.endpoint`.
	fieldSpan = regexp.MustCompile(`^(spec|status)((?:\.[A-Za-z]+(?:\[\])?)+)(?:[:= ].*)?$`)
	// metricName is a metric of this project, anywhere in a line.
	// (keypool_proxy_* and keypool_rules.yaml are not names of one.)
	metricName = regexp.MustCompile(`\b(keypool_[a-z0-9_]*[a-z0-9])(?:[^a-z0-9_.*-]|\.(?:[^a-z]|$)|$)`)
	// conditionSpan is a condition with its status: `Ready=False`.
	conditionSpan = regexp.MustCompile(`^([A-Z][A-Za-z]+)=(True|False|Unknown)$`)
	// testSpan is a Go test, fuzz target or benchmark: `TestFaults`, `FuzzParse*`.
	testSpan = regexp.MustCompile(`^((?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*)(\*?)$`)
	testFunc = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*)\(`)
	// reasonSpan is a CamelCase code span on a line that speaks of reasons.
	reasonSpan = regexp.MustCompile(`^[A-Z][a-z]+(?:[A-Z][a-z]+)+$`)
)

// otherFlags are flags of other commands (helm, kubectl) the docs show in
// code spans.
var otherFlags = map[string]bool{"help": true, "set": true, "reuse-values": true, "create-namespace": true, "namespace": true}

// TestMentionedNamesExist: every name a user doc mentions in a code span,
// anywhere and not only in the reference tables, exists: a manager flag
// (`--name`) in its --help, a KeyPool field (`spec.x.y`, `status.x`) in the
// CRD's schema, a chart value (`manager.image.tag`) in values.yaml, a metric
// (keypool_*) among those registered, a condition (`Ready=False`) and the
// reasons on a line that speaks of a reason among the API's constants, and
// a test (`TestX`, `FuzzX*`, `BenchmarkX`) among the _test.go files.
func TestMentionedNamesExist(t *testing.T) {
	tests := testFuncs(t)
	flags := managerFlags(t)
	fields := schemaPaths(loadCRD(t).Spec.Versions[0].Schema.OpenAPIV3Schema, "")
	values := helmValuePaths(t)
	metrics := codeMetrics(t)
	for name, where := range sourceMetricNames(t) {
		if _, ok := metrics[name]; !ok {
			metrics[name] = metric{where: where}
		}
	}
	consts := apiConsts(t)
	conditions := withPrefix(consts, "Condition")
	reasons := withPrefix(consts, "Reason")
	for k, v := range withPrefix(consts, "EventReason") {
		reasons[k] = v
	}
	for _, state := range keyStates(t) {
		reasons[state] = "the CRD's enum of status.keys[].state"
	}
	for _, l := range docLines(t) {
		for _, m := range metricName.FindAllStringSubmatch(l.text, -1) {
			name := m[1]
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if _, ok := metrics[base]; !ok {
					base = strings.TrimSuffix(base, suffix)
				}
			}
			if _, ok := metrics[base]; !ok {
				t.Errorf("%s: the metric %s is neither registered nor named in the code", l.where(), name)
			}
		}
		if l.fence {
			continue
		}
		speaksOfReasons := strings.Contains(strings.ToLower(l.text), "reason")
		for _, span := range codeSpans(l.text) {
			if m := flagSpan.FindStringSubmatch(span); m != nil {
				if _, ok := flags[m[1]]; !ok && !otherFlags[m[1]] {
					t.Errorf("%s: `%s`: the manager has no flag --%s", l.where(), span, m[1])
				}
			}
			if m := fieldSpan.FindStringSubmatch(span); m != nil {
				path := m[1] + strings.ReplaceAll(m[2], "[]", "")
				if !fields[path] {
					t.Errorf("%s: `%s`: the KeyPool has no field %s", l.where(), span, path)
				}
			}
			if top, rest, ok := strings.Cut(span, "."); ok && values[top] && !values[span] && !strings.ContainsAny(span, " =*/") && rest == strings.ToLower(rest[:1])+rest[1:] {
				t.Errorf("%s: `%s`: the chart has no value %s", l.where(), span, span)
			}
			if m := testSpan.FindStringSubmatch(span); m != nil && !hasTest(tests, m[1], m[2] == "*") {
				t.Errorf("%s: `%s`: no _test.go declares it", l.where(), span)
			}
			if m := conditionSpan.FindStringSubmatch(span); m != nil && !contains(conditions, m[1]) {
				t.Errorf("%s: `%s`: the API has no condition type %s", l.where(), span, m[1])
			}
			if speaksOfReasons && reasonSpan.MatchString(span) && !contains(reasons, span) && !contains(conditions, span) && !strings.HasPrefix(span, "KeyPool") {
				t.Errorf("%s: `%s` is not a condition, reason, Event reason or key state of the API", l.where(), span)
			}
		}
	}
}

// contains: the constants withPrefix returns are keyed by value.
func contains(m map[string]string, v string) bool {
	_, ok := m[v]
	return ok
}

// schemaPaths returns every property path of a schema ("spec.keys.limitGroup";
// arrays and maps add nothing to the path).
func schemaPaths(schema map[string]any, prefix string) map[string]bool {
	out := map[string]bool{}
	props, _ := schema["properties"].(map[string]any)
	for name, p := range props {
		sub, _ := p.(map[string]any)
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		out[path] = true
		for k := range schemaPaths(sub, path) {
			out[k] = true
		}
	}
	for _, key := range []string{"items", "additionalProperties"} {
		if sub, ok := schema[key].(map[string]any); ok {
			for k := range schemaPaths(sub, prefix) {
				out[k] = true
			}
		}
	}
	return out
}

// helmValuePaths returns every key path of dist/chart/values.yaml
// ("manager.image.tag"), its top-level sections included.
func helmValuePaths(t *testing.T) map[string]bool {
	t.Helper()
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(strings.Join(readDoc(t, "dist/chart/values.yaml"), "\n")), &tree); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			if sub, ok := v.(map[string]any); ok {
				walk(p, sub)
			}
		}
	}
	walk("", tree)
	return out
}

// keyStates are the values of status.keys[].state, from the CRD's enum.
func keyStates(t *testing.T) []string {
	t.Helper()
	var node any = loadCRD(t).Spec.Versions[0].Schema.OpenAPIV3Schema
	for _, k := range []string{"properties", "status", "properties", "keys", "items", "properties", "state", "enum"} {
		m, _ := node.(map[string]any)
		node = m[k]
	}
	enum, _ := node.([]any)
	var out []string
	for _, v := range enum {
		out = append(out, v.(string))
	}
	if len(out) == 0 {
		t.Fatal("the CRD has no enum for status.keys[].state")
	}
	return out
}

// testFuncs are the Test, Fuzz and Benchmark functions of every _test.go
// file of the repository (the bench module's included).
func testFuncs(t *testing.T) map[string]bool {
	t.Helper()
	root := testenv.RepoRoot()
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bin" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		for _, m := range testFunc.FindAllSubmatch(b, -1) {
			out[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hasTest: the test exists, or with prefix, one whose name starts so.
func hasTest(tests map[string]bool, name string, prefix bool) bool {
	if !prefix {
		return tests[name]
	}
	for n := range tests {
		if strings.HasPrefix(n, name) {
			return true
		}
	}
	return false
}
