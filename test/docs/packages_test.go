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
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

const (
	packagesDoc = "docs/concepts/architecture.md"
	modulePath  = "github.com/keypool-dev/keypool-operator/"
)

// packageArrow is a line of the package map: "a, b ──► c, d (and e)".
var packageArrow = regexp.MustCompile(`^((?:api|cmd|internal|bench)/[a-z0-9/]+(?:, (?:api|cmd|internal|bench)/[a-z0-9/]+)*)\s+──►\s+(.*)$`)

// inModule is a package of this repository named in a map line.
var inModule = regexp.MustCompile(`\b(?:api|cmd|internal|bench)/[a-z0-9/]*[a-z0-9]`)

// TestPackageMapIsGoList: every line of the package map in the "##
// Packages" section of docs/concepts/architecture.md lists exactly the
// in-repository imports `go list` reports for the packages on its left
// (a continuation line belongs to the arrow line above it), and "(stdlib
// only)" means the standard library alone.
func TestPackageMapIsGoList(t *testing.T) {
	imports := goListImports(t, ".")
	for k, v := range goListImports(t, "bench") {
		imports[k] = v
	}
	lines := readDoc(t, packagesDoc)
	start := slices.Index(lines, "## Packages")
	if start < 0 {
		t.Fatalf("%s: no \"## Packages\" section", packagesDoc)
	}
	type entry struct {
		line  int
		left  []string
		right string
	}
	var entries []*entry
	for i := start + 1; i < len(lines) && !strings.HasPrefix(lines[i], "## "); i++ {
		l := lines[i]
		if m := packageArrow.FindStringSubmatch(l); m != nil {
			entries = append(entries, &entry{line: i + 1, left: strings.Split(m[1], ", "), right: m[2]})
			continue
		}
		if len(entries) > 0 && strings.HasPrefix(l, "       ") && !strings.Contains(l, "|") {
			entries[len(entries)-1].right += " " + strings.TrimSpace(l)
			continue
		}
	}
	if len(entries) < 10 {
		t.Fatalf("%s: only %d package map lines found under \"## Packages\"", packagesDoc, len(entries))
	}
	for _, e := range entries {
		where := packagesDoc + ":" + strconv.Itoa(e.line)
		documented := map[string]bool{}
		for _, p := range inModule.FindAllString(e.right, -1) {
			if !slices.Contains(e.left, p) {
				documented[p] = true
			}
		}
		actual := map[string]bool{}
		stdlibOnly := true
		for _, p := range e.left {
			imps, ok := imports[p]
			if !ok {
				t.Errorf("%s: %s is not a package of the repository (go list)", where, p)
				continue
			}
			for _, imp := range imps {
				if rel, ok := strings.CutPrefix(imp, modulePath); ok {
					actual[rel] = true
				}
				if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
					stdlibOnly = false
				}
			}
		}
		if strings.Contains(e.right, "(stdlib only)") && (!stdlibOnly || len(actual) > 0) {
			t.Errorf("%s: %s is documented as stdlib only, but imports %v", where, e.left, sortedKeys(actual))
		}
		for p := range documented {
			if !actual[p] {
				t.Errorf("%s: %s does not import %s", where, strings.Join(e.left, ", "), p)
			}
		}
		for p := range actual {
			if !documented[p] {
				t.Errorf("%s: %s imports %s, which the map leaves out", where, strings.Join(e.left, ", "), p)
			}
		}
	}
}

// goListImports is `go list`'s imports of every package of the module in
// dir, by path relative to the repository ("internal/proxy").
func goListImports(t *testing.T, dir string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = filepath.Join(testenv.RepoRoot(), dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v", dir, err)
	}
	res := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		rel, ok := strings.CutPrefix(f[0], modulePath)
		if !ok {
			continue
		}
		res[rel] = f[1:]
	}
	return res
}
