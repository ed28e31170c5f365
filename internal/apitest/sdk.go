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

package apitest

import (
	"fmt"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/openai/openai-go/v3"
	openaissestream "github.com/openai/openai-go/v3/packages/ssestream"
)

// AccumulateAnthropic reads an Anthropic SDK stream to its end and returns
// the message it adds up to and how many events it held.
func AccumulateAnthropic(stream *ssestream.Stream[anthropic.MessageStreamEventUnion]) (anthropic.Message, int, error) {
	var acc anthropic.Message
	events := 0
	for stream.Next() {
		events++
		if err := acc.Accumulate(stream.Current()); err != nil {
			return acc, events, fmt.Errorf("event %d: %w", events, err)
		}
	}
	return acc, events, stream.Err()
}

// AccumulateOpenAI reads an OpenAI SDK chat stream to its end and returns
// the completion it adds up to.
func AccumulateOpenAI(stream *openaissestream.Stream[openai.ChatCompletionChunk]) (openai.ChatCompletionAccumulator, error) {
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			return acc, fmt.Errorf("accumulator rejected chunk %s", stream.Current().RawJSON())
		}
	}
	return acc, stream.Err()
}
