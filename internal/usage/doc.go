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
// Which integers are usage is the provider's to say: a Schema lists the key
// paths of its counters (the root object is the whole JSON body, or the data
// of one server-sent event), and internal/provider holds one per provider.
//
// When a field is reported more than once (Anthropic's message_start carries a
// provisional output_tokens that message_delta later replaces with the
// cumulative count) the last value wins.
//
// Numbers are reported as the provider reports them: OpenAI's prompt_tokens
// includes the cached tokens (also reported as CacheRead), for instance,
// while Anthropic's input_tokens excludes cache reads and cache writes.
package usage
