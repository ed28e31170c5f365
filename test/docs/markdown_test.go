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
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// row is one body row of a Markdown table: its cells and where it is.
type row struct {
	file  string // relative to the repository root, e.g. docs/reference/metrics.md
	line  int    // 1-based
	cells []string
}

// where names the row for an error message: docs/x.md:12.
func (r row) where() string { return r.file + ":" + strconv.Itoa(r.line) }

// readDoc returns the lines of a file of the repository.
func readDoc(t *testing.T, rel string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

// sectionTables returns the body rows of the tables in the section of rel
// that starts at the heading line heading (e.g. "## Flags") and ends at the
// next heading of any level, so a subsection's tables are not included. Each table's header row is
// kept apart: header[i] is the header of the table rows[i] belongs to.
func sectionTables(t *testing.T, rel, heading string) (rows []row, headers [][]string) {
	t.Helper()
	lines := readDoc(t, rel)
	start := -1
	for i, l := range lines {
		if l == heading {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("%s: no heading %q", rel, heading)
	}
	var header []string
	inFence := false
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if h := strings.Index(l, " "); strings.HasPrefix(l, "#") && h > 0 && strings.Trim(l[:h], "#") == "" {
			break
		}
		if !strings.HasPrefix(l, "|") {
			header = nil
			continue
		}
		cells := splitRow(l)
		switch {
		case header == nil:
			header = cells
		case isRule(cells):
		default:
			rows = append(rows, row{file: rel, line: i + 1, cells: cells})
			headers = append(headers, header)
		}
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no table under %q", rel, heading)
	}
	return rows, headers
}

// splitRow splits "| a | `b|c` | d |" into its trimmed cells; a | inside a
// code span does not split.
func splitRow(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimPrefix(l, "|")
	l = strings.TrimSuffix(l, "|")
	var cells []string
	var cur strings.Builder
	code := false
	for _, r := range l {
		switch {
		case r == '`':
			code = !code
			cur.WriteRune(r)
		case r == '|' && !code:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func isRule(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, ":-") != "" {
			return false
		}
	}
	return true
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

// codeSpans returns the contents of the code spans of a cell, in order.
func codeSpans(cell string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// column returns the index of the header cell named name, or fails.
func column(t *testing.T, r row, header []string, name string) int {
	t.Helper()
	for i, h := range header {
		if strings.EqualFold(h, name) {
			if i >= len(r.cells) {
				t.Fatalf("%s: the row has no %q cell", r.where(), name)
			}
			return i
		}
	}
	t.Fatalf("%s: the table has no %q column (header %q)", r.where(), name, header)
	return -1
}
