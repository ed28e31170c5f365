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

// Package docs holds the checks that keep the documentation true to the
// code, in `make test`: the generated API reference and Helm values table
// are fresh (docs/reference/api-reference.md and docs/reference/helm-values.md, `make docs`),
// every chart value is described, the flags table of
// docs/concepts/architecture.md is the manager's --help, the metrics table of
// docs/reference/metrics.md is what the proxy and the controller register, and the
// condition and Event reasons of docs/concepts/keypool.md are the code's. Each failure
// names the doc line and the missing or extra item.
package docs
