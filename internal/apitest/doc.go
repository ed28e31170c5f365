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

// Package apitest is the client side of the data-plane tests: request
// bodies in each provider's shape, checks that an error body has the
// provider's shape, an SSE event reader and the SDK stream accumulators.
// It imports no part of the data plane but internal/provider, so the fake
// provider's own tests use it as well as the proxy's.
package apitest
