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
