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

package provider

// RequestFacts are what the pool charges a request by before (and, when the
// answer reports no usage, after) it is sent, read from the request itself
// and never from other requests (see Provider.ReadRequest).
type RequestFacts struct {
	// bodyModel is the body's top-level "model" as sent (escaped, a slice
	// of the body), so that Provider.Model reads it without a second scan;
	// valid until the body is changed.
	bodyModel []byte
	// InputTokens is the input estimate (see EstimateInputTokens).
	InputTokens int64
	// MaxOutputTokens is the client's own cap on the answer (max_tokens,
	// max_completion_tokens, max_output_tokens or Gemini's
	// generationConfig.maxOutputTokens); 0 when the request sets none.
	MaxOutputTokens int64
	// ReserveOutput is the output the provider holds from the key's output
	// limit when it admits the request, refunded to the real output at the
	// end; the pool reserves the same (0: the provider does not say, and
	// the pool holds what it learned answers of this size produce). Known
	// per provider:
	//   - Anthropic documents that OTPM is estimated from max_tokens at the
	//     start of each request and adjusted to the real output at the end:
	//     its max_tokens.
	//   - OpenAI's guide says a request counts the maximum of max_tokens and
	//     its estimated input against the limit; how it settles afterwards
	//     is not stated: 0 (not modelled).
	//   - Azure OpenAI is believed to estimate a deployment's TPM from the
	//     prompt and max_tokens; not confirmed: 0.
	//   - Gemini: nothing is documented: 0.
	//   - Bedrock reserves a model's token quota from the input and
	//     max_tokens at the start and settles at the end: its max_tokens.
	//   - Vertex AI: not documented: 0.
	ReserveOutput int64
	// Generates says the operation generates output (a message, a
	// completion). One that does not (a token count, a model list, a file)
	// is never charged output it did not report.
	Generates bool
	// Stream: the request asks for an event stream.
	Stream bool
	// AskUsage says the proxy should ask the upstream to report the usage
	// of this stream (OpenAI's stream_options.include_usage), which the
	// client did not ask for; the client must then not see the extra
	// usage-only chunk.
	AskUsage bool

	// streamOptions: the body has a top-level stream_options, whatever it
	// says; the proxy does not add a second one.
	streamOptions bool
}
