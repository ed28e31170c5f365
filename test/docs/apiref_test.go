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

// apiReference is the generated API reference; `make docs` writes it.
const apiReference = "docs/api-reference.md"

// TestAPIReferenceIsGenerated regenerates the API reference from api/ into
// a temporary file with `make docs API_REFERENCE=...` (crd-ref-docs from
// bin/, the Makefile's one command line) and fails when the committed file
// differs: the Go types changed and `make docs` was not run, or the file was
// edited by hand.
func TestAPIReferenceIsGenerated(t *testing.T) {
	root := testenv.RepoRoot()
	out := filepath.Join(t.TempDir(), "api-reference.md")
	cmd := exec.Command("make", "--no-print-directory", "docs", "API_REFERENCE="+out)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make docs: %v: %s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, apiReference))
	if err != nil {
		t.Fatalf("%v: run `make docs`", err)
	}
	if string(got) == string(want) {
		return
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
				apiReference, i+1, gl, wl)
		}
	}
}
