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
// code, in `make test`: the generated references are fresh (API reference,
// Helm values, manager flags: `make docs`), every chart value is described,
// the metrics table is what the proxy and the controller register, the
// condition and Event reasons are the code's, the package map is `go list`'s,
// and every name a page mentions (flag, field, metric, condition, error
// message, command, file path, link) exists. Each failure names the doc line
// and the missing or extra item.
package docs
