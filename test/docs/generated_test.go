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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// sameAsGenerated runs `make <target> <variable>=<temporary file>`, the
// Makefile's one command line for a generated doc, and fails at the first
// line where the committed file rel differs from what it writes: the source
// changed and `make docs` was not run, or rel was edited by hand. The
// regenerated text is returned for further checks.
func sameAsGenerated(t *testing.T, rel, target, variable string) string {
	t.Helper()
	root := testenv.RepoRoot()
	out := filepath.Join(t.TempDir(), filepath.Base(rel))
	cmd := exec.Command("make", "--no-print-directory", target, variable+"="+out)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v: %s", target, err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("%v: run `make docs`", err)
	}
	if string(got) == string(want) {
		return string(want)
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("%s:%d is stale: run `make docs` (never edit it by hand)\n  committed: %q\n  generated: %q",
				rel, i+1, gl, wl)
		}
	}
	return string(want)
}
