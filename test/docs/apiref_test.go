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
	"testing"
)

// apiReference is the generated API reference; `make docs` writes it.
const apiReference = "docs/reference/api-reference.md"

// TestAPIReferenceIsGenerated regenerates the API reference from api/ into
// a temporary file with `make api-reference API_REFERENCE=...` (crd-ref-docs
// from bin/, the Makefile's one command line; `make docs` runs it) and fails
// when the committed file differs: the Go types changed and `make docs` was
// not run, or the file was edited by hand.
func TestAPIReferenceIsGenerated(t *testing.T) {
	sameAsGenerated(t, apiReference, "api-reference", "API_REFERENCE")
}
