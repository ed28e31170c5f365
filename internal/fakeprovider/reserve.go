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

package fakeprovider

// How each provider admits a request on output tokens, as far as is known.
// The documented rule is on for Anthropic by default (Config.OutputAfterTheFact
// turns it off), as the pool admits the same way (provider.RequestFacts.ReserveOutput);
// the others charge output after the fact (the bucket only has to be
// non-empty at the start) until someone finds how they admit.
//
//   - Anthropic: the rate-limit page (docs.claude.com/en/api/rate-limits;
//     the stored copies found were its es/fr/it translations of
//     docs.anthropic.com/*/api/rate-limits) says OTPM is estimated from
//     max_tokens at the beginning of each request and the estimate is
//     adjusted at the end to the output actually used, and advises lowering
//     max_tokens when OTPM is hit earlier than expected. The same page says
//     limits "are applied separately for each model". What Anthropic does
//     with a max_tokens larger than the whole OTPM limit is not documented
//     there; the fake refuses it, as it refuses any request larger than its
//     bucket.
//   - OpenAI: the rate-limit guide (platform.openai.com/docs/guides/rate-limits,
//     "Reduce the max_tokens to match the size of your completions", quoted in
//     community.openai.com threads 558665 and 973212) says the rate limit is
//     "calculated as the maximum of max_tokens and the estimated number of
//     tokens based on the character count of your request". Whether and how
//     the estimate is settled against real usage afterwards is not stated.
//     Not modelled: the fake's TPM bucket takes the input estimate at the
//     start and the completion after the fact.
//   - Azure OpenAI: a deployment's TPM quota is believed to be estimated from
//     the prompt and max_tokens as well; not confirmed in the sources searched
//     for this change. Not modelled.
//   - Gemini: nothing found about output reservation. Not modelled.

// outputReserve is what request req reserves from the output bucket at the
// start under API a: its max_tokens for Anthropic when the rule is on,
// otherwise nothing.
func (p *Provider) outputReserve(a api, req *request) int64 {
	if !p.admitOnMaxTokens.Load() {
		return 0
	}
	if _, ok := a.(anthropicAPI); !ok {
		return 0
	}
	return req.maxTokens
}

// SetAdmitOutputOnMaxTokens turns the max_tokens rule on or off
// for requests that arrive from now on; requests in flight settle as they
// were admitted.
func (p *Provider) SetAdmitOutputOnMaxTokens(on bool) { p.admitOnMaxTokens.Store(on) }

// AdmitOutputOnMaxTokens reports whether the max_tokens rule is on.
func (p *Provider) AdmitOutputOnMaxTokens() bool { return p.admitOnMaxTokens.Load() }
