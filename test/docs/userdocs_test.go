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
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// docLine is one line of a user doc, and whether it is inside a fenced
// code block.
type docLine struct {
	file  string
	line  int
	text  string
	fence bool
}

func (l docLine) where() string { return l.file + ":" + strconv.Itoa(l.line) }

// generatedDocs are written by `make docs`; their own tests check them.
var generatedDocs = map[string]bool{
	"docs/reference/api-reference.md": true,
	"docs/reference/helm-values.md":   true,
	"docs/reference/flags.md":         true,
}

// userDocs returns README.md and every page under docs/, relative to the
// repository root.
func userDocs(t *testing.T) []string {
	t.Helper()
	root := testenv.RepoRoot()
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// docLines returns the lines of the user docs that are not generated.
func docLines(t *testing.T) []docLine {
	t.Helper()
	var out []docLine
	for _, f := range userDocs(t) {
		if generatedDocs[f] {
			continue
		}
		fence := false
		for i, l := range readDoc(t, f) {
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				fence = !fence
				continue
			}
			out = append(out, docLine{file: f, line: i + 1, text: l, fence: fence})
		}
	}
	return out
}

// TestUserDocsAreShortAndCurrent: the README stays under 150 lines and every
// page under docs/ at 400 or fewer, and no user doc tells history: no "issue
// N", no commit hash. Measurements and their story live in bench/.
func TestUserDocsAreShortAndCurrent(t *testing.T) {
	// A commit hash is 7 to 12 hex digits as people quote it; trace and
	// span IDs in examples are longer.
	history := regexp.MustCompile(`(?i)\bissues? #?\d+|\b[0-9a-f]{7,12}\b`)
	for _, f := range userDocs(t) {
		lines := readDoc(t, f)
		limit := 400
		if f == "README.md" {
			limit = 149
		}
		if n := len(lines) - 1; n > limit && !generatedDocs[f] {
			t.Errorf("%s has %d lines, want at most %d: split it", f, n, limit)
		}
	}
	for _, l := range docLines(t) {
		for _, m := range history.FindAllString(l.text, -1) {
			if isHexWord(m) && !hasDigitAndLetter(m) { // a number or a word such as "defaced"
				continue
			}
			t.Errorf("%s: %q: user docs say what is, not its history (no issue numbers or commit hashes)", l.where(), m)
		}
	}
}

func isHexWord(s string) bool { return strings.Trim(s, "0123456789abcdef") == "" }

func hasDigitAndLetter(s string) bool {
	return strings.ContainsAny(s, "0123456789") && strings.ContainsAny(s, "abcdef")
}

// markdownLink is [text](target) with a target that is not a URL.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinksResolve: every relative link of a user doc names a file that
// exists, and an anchor (#...) names a heading of that page.
func TestLinksResolve(t *testing.T) {
	root := testenv.RepoRoot()
	anchors := map[string]map[string]bool{}
	for _, l := range docLines(t) {
		for _, m := range markdownLink.FindAllStringSubmatch(l.text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			file := l.file
			if path != "" {
				file = filepath.ToSlash(filepath.Join(filepath.Dir(l.file), path))
			}
			if _, err := os.Stat(filepath.Join(root, file)); err != nil {
				t.Errorf("%s: the link %s names %s, which does not exist", l.where(), target, file)
				continue
			}
			if frag == "" || !strings.HasSuffix(file, ".md") {
				continue
			}
			if anchors[file] == nil {
				anchors[file] = headingAnchors(t, file)
			}
			if !anchors[file][frag] {
				t.Errorf("%s: the link %s names no heading of %s", l.where(), target, file)
			}
		}
	}
}

// headingAnchors are the anchors GitHub makes of a page's headings: lower
// case, punctuation dropped, spaces as dashes.
func headingAnchors(t *testing.T, rel string) map[string]bool {
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
	for _, l := range readDoc(t, rel) {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
	}
	return out
}

// makeCommand is `make target ...` at the start of a shell line or code span.
var makeCommand = regexp.MustCompile(`(?:^|[;&|]\s*|\x60)make ((?:[a-z][a-z0-9-]*\s*)+)`)

// repoPath is a code span, or a word of a shell line, naming a file or
// folder of the repository.
var repoPath = regexp.MustCompile(`^(?:\./|\$PWD/)?((?:api|cmd|config|dist|docs|hack|internal|test|bench)/[A-Za-z0-9_./-]*|Makefile|Dockerfile|PROJECT|\.ci/run|\.github/workflows/[a-z.]+)$`)

// TestCommandsAndPathsExist: every `make target` a user doc shows (in a
// code block or a code span) is a target of the Makefile, and every
// repository path it names (config/samples/demo/, hack/image, ...) exists.
func TestCommandsAndPathsExist(t *testing.T) {
	root := testenv.RepoRoot()
	targets := makeTargets(t)
	for _, l := range docLines(t) {
		text := l.text
		if !l.fence {
			text = strings.Join(codeSpans(l.text), "\n")
			if text == "" {
				continue
			}
			text = "`" + strings.ReplaceAll(text, "\n", "\n`")
		}
		for _, m := range makeCommand.FindAllStringSubmatch(text, -1) {
			for _, w := range strings.Fields(m[1]) {
				if !targets[w] {
					t.Errorf("%s: `make %s`: the Makefile has no target %s", l.where(), w, w)
				}
			}
		}
		var words []string
		if l.fence {
			words = strings.FieldsFunc(l.text, func(r rune) bool { return strings.ContainsRune(" \t'\"=()", r) })
		} else {
			words = codeSpans(l.text)
		}
		for _, w := range words {
			m := repoPath.FindStringSubmatch(w)
			// dist/ holds what make writes (the chart is committed).
			if m == nil || strings.ContainsAny(m[1], "<>*") || strings.HasPrefix(m[1], "dist/") && !strings.HasPrefix(m[1], "dist/chart") {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
				t.Errorf("%s: %s does not exist in the repository", l.where(), m[1])
			}
		}
	}
}

// makeTargets are the Makefile's targets, phony or not.
func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	target := regexp.MustCompile(`^([a-z][a-z0-9-]*):`)
	out := map[string]bool{}
	for _, l := range readDoc(t, "Makefile") {
		if m := target.FindStringSubmatch(l); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// quotedMessage is an error message a doc quotes: a code span right after
// "message" (the message `...`).
var quotedMessage = regexp.MustCompile("(?i)message:?\\s+`([^`]+)`")

// TestQuotedMessagesExist: an error message a user doc quotes (the message
// `...`, placeholders as <name> or ...) is one the code writes: each literal
// part of it is in the Go sources of api/, cmd/ and internal/.
func TestQuotedMessagesExist(t *testing.T) {
	src := goSources(t)
	placeholder := regexp.MustCompile(`<[^>]*>|\.\.\.`)
	n := 0
	for _, l := range docLines(t) {
		for _, m := range quotedMessage.FindAllStringSubmatch(l.text, -1) {
			n++
			for _, part := range placeholder.Split(m[1], -1) {
				if part = strings.Trim(part, " :;,."); len(part) < 4 {
					continue
				}
				if !strings.Contains(src, part) {
					t.Errorf("%s: the quoted message %q: no Go source has %q", l.where(), m[1], part)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no quoted message found: the pattern no longer matches the docs")
	}
}

// goSources is the text of every non-test Go file of api/, cmd/ and
// internal/, one string.
func goSources(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot()
	var b strings.Builder
	for _, dir := range []string{"api", "cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			data, err := os.ReadFile(path)
			b.Write(data)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// sortedKeys is for stable messages.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
