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

// Command helmchart generates the Helm chart in dist/chart from the
// kustomize tree (`make helm`), laid out like kubebuilder's helm/v2-alpha
// plugin: every object of config/default (plus the optional
// config/prometheus, config/network-policy, config/grafana and the
// namespaced RoleBindings of config/namespaced) becomes one template, with
// values spliced in at known places. Rendering the chart with its default
// values gives back what `kustomize build config/default` gives (test/helm
// checks it), so the two cannot drift apart unnoticed. values.yaml carries
// helm-docs' "# --" comments, from which `make helm` then writes the values
// table of docs/reference/helm-values.md with helm-docs.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	root := flag.String("root", ".", "the repository's root folder")
	out := flag.String("out", "dist/chart", "where to write the chart (replaced)")
	kustomize := flag.String("kustomize", "bin/kustomize build", "the command that builds a kustomization (folder appended)")
	flag.Parse()
	if err := generate(*root, *out, strings.Fields(*kustomize)); err != nil {
		fmt.Fprintln(os.Stderr, "helmchart:", err)
		os.Exit(1)
	}
}
