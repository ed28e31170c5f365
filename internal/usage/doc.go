// Package usage reads the token usage an LLM provider reports in a response
// while the response bytes pass through untouched.
//
// A Scanner is fed the bytes of a response body in whatever pieces they arrive
// (it implements io.Writer, so it can sit behind an io.TeeReader or be called
// next to the write to the client). It never copies or buffers the body: it
// runs a small streaming JSON tokenizer that only remembers the object keys on
// the path to the current value, and picks out the integers whose path names a
// usage field. Pieces may split a JSON token or an SSE line anywhere.
//
// Recognised paths (the root object is the whole JSON body, or the data of one
// server-sent event), with * any of the counters below "usage":
//
//	usage.input_tokens, usage.output_tokens,                  Anthropic message and
//	usage.cache_creation_input_tokens,                        message_delta event
//	usage.cache_read_input_tokens
//	message.usage.*                                           Anthropic message_start event
//	usage.prompt_tokens, usage.completion_tokens,             OpenAI chat, completions,
//	usage.prompt_tokens_details.cached_tokens                 embeddings
//	usage.input_tokens_details.cached_tokens                  OpenAI Responses API
//	response.usage.*                                          OpenAI Responses API stream
//
// When a field is reported more than once (Anthropic's message_start carries a
// provisional output_tokens that message_delta later replaces with the
// cumulative count) the last value wins.
//
// Numbers are reported as the provider reports them. In particular OpenAI's
// prompt_tokens includes the cached tokens (also reported as CacheRead), while
// Anthropic's input_tokens excludes cache reads and cache writes.
package usage
