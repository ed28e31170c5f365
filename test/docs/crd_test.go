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
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// crdFile is the KeyPool CRD `make manifests` generates from api/v1alpha1.
const crdFile = "config/crd/bases/llm.keypool.dev_keypools.yaml"

// crd is the part of the CRD the tests read. The schemas stay generic maps:
// additionalProperties may be a schema or a boolean.
type crd struct {
	Spec struct {
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
			} `json:"schema"`
			AdditionalPrinterColumns []struct {
				Name     string `json:"name"`
				JSONPath string `json:"jsonPath"`
				Priority int    `json:"priority"`
			} `json:"additionalPrinterColumns"`
		} `json:"versions"`
	} `json:"spec"`
}

func loadCRD(t *testing.T) *crd {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), crdFile))
	if err != nil {
		t.Fatal(err)
	}
	var c crd
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", crdFile, err)
	}
	if len(c.Spec.Versions) == 0 {
		t.Fatalf("%s has no version", crdFile)
	}
	return &c
}

// bareProperties walks a schema and returns the paths (".spec.keys[].name")
// of the properties without a description, and how many it walked.
func bareProperties(path string, schema map[string]any) (bare []string, walked int) {
	props, _ := schema["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p, _ := props[name].(map[string]any)
		sub := path + "." + name
		walked++
		if d, _ := p["description"].(string); strings.TrimSpace(d) == "" {
			bare = append(bare, sub)
		}
		b, n := bareProperties(sub, p)
		bare, walked = append(bare, b...), walked+n
	}
	for key, suffix := range map[string]string{"items": "[]", "additionalProperties": "{}"} {
		if sub, ok := schema[key].(map[string]any); ok {
			b, n := bareProperties(path+suffix, sub)
			bare, walked = append(bare, b...), walked+n
		}
	}
	return bare, walked
}

// TestKubectlExplainIsComplete walks every version's openAPIV3Schema and
// fails on any property without a description, which `kubectl explain
// keypool.spec...` (or status) would show bare. The descriptions are the
// doc comments of the Go types in api/v1alpha1: a field added without one
// fails here (the fix is a comment, then `make manifests`). The root
// metadata is exempt: the API server documents ObjectMeta itself.
func TestKubectlExplainIsComplete(t *testing.T) {
	for _, v := range loadCRD(t).Spec.Versions {
		bare, walked := bareProperties("", v.Schema.OpenAPIV3Schema)
		if walked < 50 {
			t.Errorf("%s %s: only %d properties walked; the schema is not where the test looks", crdFile, v.Name, walked)
		}
		for _, p := range bare {
			if p == ".metadata" {
				continue
			}
			explain := strings.NewReplacer("[]", "", "{}", "").Replace(p)
			t.Errorf("%s %s: keypool%s has no description (`kubectl explain keypool%s` shows none): document the field in api/%s, then `make manifests`",
				crdFile, v.Name, p, explain, v.Name)
		}
	}
}

// TestPrintColumnsAreDocumented: the print-columns table of docs/reference/status.md
// lists exactly the CRD's columns (`kubectl get kp`, and with `-o wide` the
// priority-1 ones), each with its JSONPath (the Source cell's first code
// span) and whether only -o wide shows it.
func TestPrintColumnsAreDocumented(t *testing.T) {
	const doc = "docs/reference/status.md"
	crd := loadCRD(t)
	type col struct{ path, wide string }
	want := map[string]col{}
	for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
		w := "no"
		if c.Priority > 0 {
			w = "yes"
		}
		want[c.Name] = col{c.JSONPath, w}
	}
	rows, headers := sectionTables(t, doc, "## Print columns")
	seen := map[string]bool{}
	for i, r := range rows {
		name := r.cells[column(t, r, headers[i], "Column")]
		src := codeSpans(r.cells[column(t, r, headers[i], "Source")])
		wide := r.cells[column(t, r, headers[i], "Only with -o wide")]
		w, ok := want[name]
		switch {
		case !ok:
			t.Errorf("%s: column %q is not a print column of the CRD", r.where(), name)
		case len(src) == 0 || src[0] != w.path: // the first code span is the JSONPath
			t.Errorf("%s: column %s shows %q, the doc says %q", r.where(), name, w.path, src)
		case wide != w.wide:
			t.Errorf("%s: column %s: only with -o wide %q, want %q", r.where(), name, wide, w.wide)
		}
		seen[name] = true
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s: print column %s is not in the table", doc, name)
		}
	}
}
