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
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// object is one Kubernetes object as kustomize built it.
type object = map[string]any

// build runs the kustomize command on root/config/<dir> and decodes the
// objects it prints.
func build(kustomize []string, root, dir string) ([]object, error) {
	args := append(append([]string{}, kustomize[1:]...), filepath.Join(root, "config", dir))
	cmd := exec.Command(kustomize[0], args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s config/%s: %w: %s", kustomize[0], dir, err, stderr.String())
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	var objs []object
	for {
		var o object
		if err := dec.Decode(&o); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decoding config/%s: %w", dir, err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
}

// kindName returns an object's kind and name.
func kindName(o object) (string, string) {
	kind, _ := o["kind"].(string)
	name, _ := meta(o)["name"].(string)
	return kind, name
}

// meta returns an object's metadata, creating it when missing.
func meta(o object) map[string]any {
	return mapAt(o, "metadata")
}

// mapAt returns the map under key, creating it when missing.
func mapAt(m map[string]any, key string) map[string]any {
	v, ok := m[key].(map[string]any)
	if !ok {
		v = map[string]any{}
		m[key] = v
	}
	return v
}
