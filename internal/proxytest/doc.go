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

// Package proxytest wires the data plane for tests, benchmarks and the
// measuring programs, in the spirit of net/http/httptest: a fake provider
// (internal/fakeprovider) behind a real HTTP server, a KeyPool pointing at
// it in a Registry, the handler under test behind a second server, and the
// observations every suite needs (what the upstream saw, handlers still
// running, leases in flight). Options live in Config, so a new one is added
// here once for every suite.
//
// It does not import internal/proxy: the handler comes from a HandlerFunc
// the caller passes (usually a closure over proxy.New). That keeps it usable
// from internal/proxy's own white-box tests, which would otherwise form an
// import cycle, and lets a test keep the *proxy.Server it built.
package proxytest
