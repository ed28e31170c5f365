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

package proxy

import "github.com/keypool-dev/keypool-operator/internal/usage"

// charged is what an answer of status, whose body came in format, costs
// the key and the client's quotas and budgets: what the answer reported,
// and where it did not report it all, what the request itself says. Never
// another client's traffic, and never less than what was delivered:
//
//   - an error answer, or an operation that generates nothing (a token
//     count, a model list), is charged what it reported, usually nothing:
//     the request counts against the request limits only;
//   - a served answer that reported no usage is charged the request's input
//     estimate;
//   - a served answer without its final output count (a stream the client
//     or the upstream cut before the last usage event, an OpenAI stream
//     without usage, a body that could not be read) is charged at least the
//     output its content deltas carried (usage.Scanner.Streamed) when it was
//     a stream, else the client's own max_tokens or, without one, what its
//     own answers averaged (quota.Clients.OutputEstimate).
//
// Token metrics and status.clients count only what was reported.
func (x *exchange) charged(format usage.Format, status int) usage.Tokens {
	t := x.scan.Tokens()
	if status/100 != 2 || !x.facts.Generates || x.scan.Final() {
		return t
	}
	if !x.scan.Found() {
		t.Input = x.facts.InputTokens
	}
	out := x.scan.Streamed()
	if format != usage.FormatSSE {
		out = x.pool.Clients().OutputEstimate(x.client, x.facts.MaxOutputTokens)
	}
	t.Output = max(t.Output, out)
	return t
}
