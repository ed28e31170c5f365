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

// Package faults holds the data plane's fault-injection and secret-hygiene
// tests. They run the real proxy (internal/proxy) over a real pool
// (internal/keypool) in front of the fake provider (internal/fakeprovider),
// in-process but over real loopback HTTP, so that resets, timeouts and
// client disconnects are genuine TCP events rather than mocks.
//
// Every case checks three things: what the client receives (a success
// through failover, or a well-formed error in the provider's shape with the
// right status), the key states the pool reports afterwards, and that
// nothing leaked: no goroutine, no upstream or client connection, no lease
// in flight, and no key or client token in logs, metrics, response bodies
// or response headers.
//
// The package has no non-test code; this file only documents it.
package faults
