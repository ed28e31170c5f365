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

package release

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// TestWorkflowsPassActionlint runs actionlint (bin/, `make actionlint`)
// over .github/workflows: a typo in an expression, an unknown event or
// input, or a shell error in a run step fails `make test` rather than the
// first tag.
func TestWorkflowsPassActionlint(t *testing.T) {
	root := testenv.RepoRoot()
	bin := filepath.Join(root, "bin", "actionlint")
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("want the ci and release workflows in .github/workflows, got %v (%v)", files, err)
	}
	cmd := exec.Command(bin, append([]string{"-no-color"}, files...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
}
