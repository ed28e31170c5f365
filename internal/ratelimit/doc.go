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

// Package ratelimit keeps the capacity of one provider key, or of one group of
// keys that share an organisation's limits, in up to four per-minute
// dimensions: requests, input tokens, output tokens and combined tokens.
//
// Capacity is modelled as token buckets (bucket.go), always driven with the
// caller's clock, so that tests move time instead of sleeping. Input tokens are reserved from an estimate before
// a request and settled with the real usage afterwards; output tokens are
// charged afterwards. What a provider reports in its rate-limit headers
// adjusts the buckets in place and never refills them.
//
// The pool talks to capacity only through the Limiter interface, so that a
// shared implementation (several replicas keeping one set of levels in Redis)
// can replace Local without touching the pool.
package ratelimit
