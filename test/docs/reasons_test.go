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
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// goConst is a string constant of the code and where it is declared.
type goConst struct{ value, where string }

// parseDir parses the non-test Go files of a directory of the repository.
func parseDir(t *testing.T, rel string) (*token.FileSet, []*ast.File) {
	t.Helper()
	root := testenv.RepoRoot()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(root, rel, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// where names a position relative to the repository root.
func where(fset *token.FileSet, p token.Pos) string {
	pos := fset.Position(p)
	rel, err := filepath.Rel(testenv.RepoRoot(), pos.Filename)
	if err != nil {
		rel = pos.Filename
	}
	return rel + ":" + strconv.Itoa(pos.Line)
}

// apiConsts returns the string constants of api/v1alpha1 by name.
func apiConsts(t *testing.T) map[string]goConst {
	t.Helper()
	fset, files := parseDir(t, "api/v1alpha1")
	out := map[string]goConst{}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						out[n.Name] = goConst{value: v, where: where(fset, n.Pos())}
					}
				}
			}
		}
	}
	return out
}

// withPrefix returns the values of the constants whose names start with
// prefix (and not with any of except), with where each is declared.
func withPrefix(consts map[string]goConst, prefix string, except ...string) map[string]string {
	out := map[string]string{}
outer:
	for name, c := range consts {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		for _, e := range except {
			if strings.HasPrefix(name, e) {
				continue outer
			}
		}
		out[c.value] = c.where
	}
	return out
}

// problemEventReasons returns the reasons of the problems a reconcile
// reports: the `reason:` of every problem literal written inside a function
// of internal/controller. The publisher announces each new one as a Warning
// Event. A problem declared at package level (sharedLimitsProblem) is added
// to the status at write time only and never announced, so it is left out.
func problemEventReasons(t *testing.T, consts map[string]goConst) map[string]string {
	t.Helper()
	fset, files := parseDir(t, "internal/controller")
	out := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				kv, ok := n.(*ast.KeyValueExpr)
				if !ok {
					return true
				}
				if key, ok := kv.Key.(*ast.Ident); !ok || key.Name != "reason" {
					return true
				}
				sel, ok := kv.Value.(*ast.SelectorExpr)
				if !ok {
					t.Errorf("%s: a problem's reason is not an api/v1alpha1 constant; the doc check cannot read it", where(fset, kv.Pos()))
					return true
				}
				c, ok := consts[sel.Sel.Name]
				if !ok {
					t.Errorf("%s: %s is not a string constant of api/v1alpha1", where(fset, sel.Pos()), sel.Sel.Name)
					return true
				}
				out[c.value] = where(fset, kv.Pos())
				return true
			})
		}
	}
	return out
}

// reasonWord is a reason or condition type as the docs write it.
var reasonWord = regexp.MustCompile(`^[A-Z][A-Za-z]+$`)

// docColumn returns the reason-like code spans in the column col of the
// tables of a section of docs/reference/status.md (tables without that column are
// skipped), with the line of their first mention.
func docColumn(t *testing.T, heading, col string) map[string]string {
	t.Helper()
	rows, headers := sectionTables(t, "docs/reference/status.md", heading)
	out := map[string]string{}
	for i, r := range rows {
		for j, h := range headers[i] {
			if !strings.EqualFold(h, col) || j >= len(r.cells) {
				continue
			}
			for _, s := range codeSpans(r.cells[j]) {
				if _, seen := out[s]; reasonWord.MatchString(s) && !seen {
					out[s] = r.where()
				}
			}
		}
	}
	return out
}

// compareSets reports what one side has and the other lacks.
func compareSets(t *testing.T, what string, doc, code map[string]string, docWhere string) {
	t.Helper()
	for _, v := range slices.Sorted(maps.Keys(doc)) {
		if _, ok := code[v]; !ok {
			t.Errorf("%s: %s %s is documented but the code has no such %s", doc[v], what, v, what)
		}
	}
	for _, v := range slices.Sorted(maps.Keys(code)) {
		if _, ok := doc[v]; !ok {
			t.Errorf("%s: %s %s (%s) is missing from %s", docWhere, what, v, code[v], docWhere)
		}
	}
}

// TestConditionReasonsAreTheCodes: the condition types and reasons in
// docs/reference/status.md's "## Conditions" tables are the Condition* and Reason*
// constants of api/v1alpha1, both ways.
func TestConditionReasonsAreTheCodes(t *testing.T) {
	consts := apiConsts(t)
	compareSets(t, "condition type", docColumn(t, "## Conditions", "Type"),
		withPrefix(consts, "Condition"), `docs/reference/status.md "## Conditions" (Type column)`)
	compareSets(t, "condition reason", docColumn(t, "## Conditions", "Reason"),
		withPrefix(consts, "Reason"), `docs/reference/status.md "## Conditions" (Reason columns)`)
}

// TestEventReasonsAreTheCodes: the Event reasons in docs/reference/status.md's
// "## Events" table are the EventReason* constants of api/v1alpha1 plus the
// reasons of the problems a reconcile reports, both ways.
func TestEventReasonsAreTheCodes(t *testing.T) {
	consts := apiConsts(t)
	code := withPrefix(consts, "EventReason")
	maps.Copy(code, problemEventReasons(t, consts))
	compareSets(t, "Event reason", docColumn(t, "## Events", "Reason"), code, `docs/reference/status.md "## Events"`)
}
