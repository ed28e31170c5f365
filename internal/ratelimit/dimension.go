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

package ratelimit

import "time"

// Window is the period every limit is expressed over. Providers publish
// per-minute limits, and a bucket holding one window's worth refills
// completely in one window, so every dimension refills at the same relative
// speed (1/Window of its capacity per unit of time). The pool relies on
// that to order keys by remaining share without re-reading them.
const Window = time.Minute

// Dimension is one kind of capacity a provider limits.
type Dimension int

const (
	// Requests counts requests per minute.
	Requests Dimension = iota
	// InputTokens counts input tokens per minute (Anthropic ITPM).
	InputTokens
	// OutputTokens counts output tokens per minute (Anthropic OTPM).
	OutputTokens
	// Tokens counts input plus output tokens per minute: OpenAI's TPM, or
	// Anthropic's combined tokens-* headers when a provider sends no
	// per-direction ones. It is only ever learned from headers.
	Tokens

	// NumDimensions is the number of dimensions; it sizes Amounts.
	NumDimensions = 4
)

var dimensionNames = [NumDimensions]string{"requests", "input-tokens", "output-tokens", "tokens"}

// String returns the dimension's name as used in provider headers.
func (d Dimension) String() string {
	if d < 0 || int(d) >= NumDimensions {
		return "unknown"
	}
	return dimensionNames[d]
}

// Amounts holds one count per dimension, indexed by Dimension. As limits it
// is per minute, with 0 meaning unknown (unlimited until learned).
type Amounts [NumDimensions]int64

// Usage is what a request really consumed.
type Usage struct {
	// InputTokens is every input token the provider counts against its input
	// limit (for Anthropic: input plus cache-creation tokens).
	InputTokens int64
	// OutputTokens is the generated tokens.
	OutputTokens int64
}
