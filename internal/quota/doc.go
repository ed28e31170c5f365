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

// Package quota keeps what a pool knows of its clients: each named client's
// last minute of requests and tokens, its optional per-minute quotas and its
// daily and monthly token budgets.
//
// It is one of the engine's three jobs, beside choosing a key
// (internal/keypool) and waiting fairly for one (the pool's queue): the proxy
// admits a request against its client's quotas with Clients.Admit before any
// key is touched, and settles the Lease it got with the request's real usage
// once. Clients are named by the data key of their token, never by the
// token.
//
// Like internal/ratelimit and internal/keypool it imports nothing from
// Kubernetes.
package quota
