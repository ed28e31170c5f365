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
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

var (
	keyLine = regexp.MustCompile(`^(\s*)([A-Za-z][\w]*):`)
	docLine = regexp.MustCompile(`^\s*# -- (.*)$`)
)

// valuesTable writes the Markdown table of every documented value of
// values.yaml (helm-docs' "# --" comments): key, type, default, meaning.
func valuesTable(values string) (string, error) {
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(values), &tree); err != nil {
		return "", fmt.Errorf("values.yaml: %w", err)
	}
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|---|---|---|---|\n")
	var path []string
	doc := ""
	for _, line := range strings.Split(values, "\n") {
		if m := docLine.FindStringSubmatch(line); m != nil {
			doc = m[1]
			continue
		}
		m := keyLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		depth := len(m[1]) / 2
		if depth > len(path) {
			return "", fmt.Errorf("values.yaml: %q is indented too deep", line)
		}
		path = append(path[:depth], m[2])
		if doc == "" {
			continue
		}
		v, err := lookup(tree, path)
		if err != nil {
			return "", err
		}
		def, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("values.yaml %s: %w", strings.Join(path, "."), err)
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", strings.Join(path, "."), typeName(v), def,
			strings.ReplaceAll(doc, "|", `\|`))
		doc = ""
	}
	return b.String(), nil
}

func lookup(tree map[string]any, path []string) (any, error) {
	var v any = tree
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("values.yaml: %s is not a map", strings.Join(path, "."))
		}
		v = m[k]
	}
	return v, nil
}

func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "list"
	case bool:
		return "bool"
	case float64:
		return "int"
	case string:
		return "string"
	}
	return "null"
}
