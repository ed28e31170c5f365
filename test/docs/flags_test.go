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
	"bufio"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// flagInfo is one flag as the manager's --help prints it.
type flagInfo struct {
	typ, def string // Go flag type word ("" for bool) and default, zero value included
}

// managerFlags builds cmd/manager and parses its --help: the flag package's
// PrintDefaults, "  -name type" then indented usage lines, the last one
// ending in "(default X)" unless the default is the type's zero value.
func managerFlags(t *testing.T) map[string]flagInfo {
	t.Helper()
	bin, err := testproc.GoBuild(t.Context(), testenv.RepoRoot(), t.TempDir(), "manager", "./cmd/manager")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("manager --help: %v: %s", err, out)
	}
	flags := map[string]flagInfo{}
	var name string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		l := sc.Text()
		if m := helpFlag.FindStringSubmatch(l); m != nil {
			name = m[1]
			flags[name] = flagInfo{typ: m[2], def: zeroValue[m[2]]}
			continue
		}
		if name == "" {
			continue
		}
		if m := helpDefault.FindStringSubmatch(l); m != nil {
			def := m[1]
			if u, err := strconv.Unquote(def); err == nil {
				def = u
			}
			flags[name] = flagInfo{typ: flags[name].typ, def: def}
		}
	}
	if len(flags) == 0 {
		t.Fatalf("no flags in the manager's --help:\n%s", out)
	}
	return flags
}

var (
	helpFlag    = regexp.MustCompile(`^  -([a-z0-9-]+)(?: ([a-z0-9]+))?$`)
	helpDefault = regexp.MustCompile(`\(default (.*)\)$`)
	// zeroValue is the default --help leaves out, by the type word it prints.
	zeroValue = map[string]string{"": "false", "string": "", "int": "0", "int64": "0",
		"uint": "0", "uint64": "0", "float": "0", "duration": "0s", "value": ""}
)

// TestFlagsReferenceIsGenerated regenerates docs/reference/flags.md from
// the manager's --help with `make flags-reference FLAGS_REFERENCE=...` and
// fails when the committed page differs: a flag was added, removed or
// reworded and `make docs` was not run, or the page was edited by hand.
func TestFlagsReferenceIsGenerated(t *testing.T) {
	sameAsGenerated(t, "docs/reference/flags.md", "flags-reference", "FLAGS_REFERENCE")
}
