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
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// walkHeading is the section of docs/concepts/architecture.md that follows one
// request and one reconcile through the code, one function a step.
const (
	walkDoc     = "docs/concepts/architecture.md"
	walkHeading = "## One request, one reconcile"
)

// walkStep is a step of the walk: "3. `Type.Method` (`internal/x/y.go`): ...".
var walkStep = regexp.MustCompile("^\\d+\\. `([A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z_][A-Za-z0-9_]*)?)` \\(`([^`]+\\.go)`\\)")

// TestWalkNamesFunctionsThatExist checks every step of the walk: the file
// it names exists and declares the function or method it names, so that a
// rename or a move that leaves the walk behind fails `make test`. Each walk
// (### subsection) has at least five steps.
func TestWalkNamesFunctionsThatExist(t *testing.T) {
	lines := readDoc(t, walkDoc)
	start := -1
	for i, l := range lines {
		if l == walkHeading {
			start = i
		}
	}
	if start < 0 {
		t.Fatalf("%s: no heading %q", walkDoc, walkHeading)
	}
	steps := map[string]int{}
	walk := ""
	decls := map[string]map[string]bool{} // file -> declared names
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "## ") {
			break
		}
		if strings.HasPrefix(l, "### ") {
			walk = l
			steps[walk] = 0
			continue
		}
		m := walkStep.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		steps[walk]++
		where := walkDoc + ":" + strconv.Itoa(i+1)
		names, ok := decls[m[2]]
		if !ok {
			names = declaredFuncs(t, m[2])
			decls[m[2]] = names
		}
		if names == nil {
			t.Errorf("%s: %s does not exist", where, m[2])
			continue
		}
		if !names[m[1]] {
			t.Errorf("%s: %s declares no %s", where, m[2], m[1])
		}
	}
	if len(steps) < 2 {
		t.Fatalf("%s: want a walk for one request and one for one reconcile (### headings), got %d", walkDoc, len(steps))
	}
	for w, n := range steps {
		if n < 5 {
			t.Errorf("%s: %q has %d steps, want at least 5", walkDoc, w, n)
		}
	}
}

// declaredFuncs returns the functions ("F") and methods ("T.M") the Go file
// rel declares; nil when it cannot be read.
func declaredFuncs(t *testing.T, rel string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(testenv.RepoRoot(), rel), nil, parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	names := map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		if fd.Recv == nil || len(fd.Recv.List) == 0 {
			names[fd.Name.Name] = true
			continue
		}
		if recv := receiverName(fd.Recv.List[0].Type); recv != "" {
			names[recv+"."+fd.Name.Name] = true
		}
	}
	return names
}

// receiverName is the type name of a method's receiver: T for T, *T, T[P]
// and *T[P].
func receiverName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}
