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

// Package proxy is the HTTP data plane of keypool-operator.
//
// In-cluster clients send their provider requests to
//
//	http://<proxy>/pools/{namespace}/{name}/v1/...
//
// with a client token (x-api-key or Authorization: Bearer) instead of a
// provider key. The proxy finds the pool in the keypool.Registry,
// authenticates the client, acquires the best key of the pool, forwards the
// request with that key, and streams the response back unbuffered, reading
// the token usage from it on the way to settle the key's accounts. When the
// provider answers 429, 401, 403 or 5xx, or the connection fails, before
// anything was written to the client, the same buffered request is retried on
// another key, up to the pool's maxAttempts.
//
// The official SDKs work unchanged apart from their base URL:
//
//	anthropic: option.WithBaseURL("http://<proxy>/pools/ns/name/")     (the SDK appends v1/messages)
//	openai:    option.WithBaseURL("http://<proxy>/pools/ns/name/v1/")  (the SDK appends chat/completions)
//
// Every response carries x-keypool-key (the ID of the key used, never its
// value) and x-keypool-attempts. Errors the proxy produces itself are written
// in the pool's provider error shape (see errors.go).
//
// The proxy reads usage with package usage and depends on package keypool,
// never on the controller.
package proxy
