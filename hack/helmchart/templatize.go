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

package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Sentinels are plain strings put into an object where a template goes;
// after the object is written as YAML they are replaced by template text.
// An inline sentinel (inl) stands for a value inside a line; a block sentinel
// (blk) stands for whole lines: a list item ("- __B_x__"), a map key
// (`__B_x__: ""`) or a key's value ("key: __B_x__"), replaced by the block's
// lines at that line's indentation.
func inl(name string) string { return "__I_" + name + "__" }
func blk(name string) string { return "__B_" + name + "__" }

var (
	inlineRE = regexp.MustCompile(`__I_(\w+?)__`)
	blockRE  = regexp.MustCompile(`^(\s*)(?:- )?(?:[^\s:]+: )?__B_(\w+?)__(?::.*)?$`)
	// Template delimiters in the manifests themselves (alert annotations,
	// dashboard legends) must reach the output as they are.
	escaper = strings.NewReplacer("{{", `{{ "{{" }}`, "}}", `{{ "}}" }}`)
)

// templates maps sentinel names to template text. In block text, %I% is the
// sentinel line's indentation width and %N% that width plus 2 (for nindent).
type templates struct {
	inline map[string]string
	block  map[string]string
}

// render writes o as YAML with its sentinels replaced, wrapped in
// {{- if cond }} ... {{- end }} when cond is not empty.
func (t templates) render(o object, cond string) (string, error) {
	raw, err := yaml.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("marshal: %w", err)
	}
	var b strings.Builder
	if cond != "" {
		fmt.Fprintf(&b, "{{- if %s }}\n", cond)
	}
	for _, line := range strings.Split(strings.TrimSuffix(escaper.Replace(string(raw)), "\n"), "\n") {
		if m := blockRE.FindStringSubmatch(line); m != nil {
			text, ok := t.block[m[2]]
			if !ok {
				return "", fmt.Errorf("no template for block %s", m[2])
			}
			indent := m[1]
			text = strings.NewReplacer("%I%", strconv.Itoa(len(indent)), "%N%", strconv.Itoa(len(indent)+2)).Replace(text)
			for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
				b.WriteString(indent + l + "\n")
			}
			continue
		}
		var missing string
		line = inlineRE.ReplaceAllStringFunc(line, func(s string) string {
			name := inlineRE.FindStringSubmatch(s)[1]
			v, ok := t.inline[name]
			if !ok {
				missing = name
			}
			return v
		})
		if missing != "" {
			return "", fmt.Errorf("no template for inline %s", missing)
		}
		b.WriteString(line + "\n")
	}
	if cond != "" {
		b.WriteString("{{- end }}\n")
	}
	return b.String(), nil
}
