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

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// The conversational workload of the prompt-cache runs (`-cache`): chats
// of several turns, each turn resending the whole conversation, with
// Anthropic cache_control breakpoints on the system prompt and on the last
// user message (the pattern Anthropic documents for multi-turn chat), so
// that a turn served by the organisation that served the previous one reads
// everything up to the previous turn from that organisation's cache.
const (
	convApps         = 4    // distinct system prompts, one per "application"
	convSystemTokens = 1500 // each system prompt, above the 1024-token minimum
	convMinTurns     = 4
	convMaxTurns     = 10
	convUserMin      = 100 // user message tokens: uniform [min, min+span)
	convUserSpan     = 200
	convOutMin       = 100 // assistant reply tokens, likewise
	convOutSpan      = 300
	convStreamShare  = 0.5
	convThinkMean    = 20 * time.Second // between a reply and the next turn
)

// systemPrompts are the applications' system prompts.
var systemPrompts = func() [convApps]string {
	var out [convApps]string
	for i := range out {
		out[i] = filler(fmt.Sprintf("app %d instructions: ", i), convSystemTokens)
	}
	return out
}()

// filler is text the fake counts as n tokens (4 bytes each), starting with
// head so that texts differ.
func filler(head string, n int) string {
	if len(head) >= n*4 {
		return head[:n*4]
	}
	return head + strings.Repeat("word ", n)[:n*4-len(head)]
}

// conversationPlan is one conversation, drawn when it starts.
type conversationPlan struct {
	id     int
	app    int
	user   []int // tokens of each user message
	output []int // tokens of each reply
	stream bool
	think  []time.Duration // before each turn after the first
}

func drawConversation(rng *rand.Rand, id int) conversationPlan {
	turns := convMinTurns + rng.IntN(convMaxTurns-convMinTurns+1)
	c := conversationPlan{id: id, app: rng.IntN(convApps), stream: rng.Float64() < convStreamShare}
	for range turns {
		c.user = append(c.user, convUserMin+rng.IntN(convUserSpan))
		c.output = append(c.output, convOutMin+rng.IntN(convOutSpan))
		c.think = append(c.think, time.Duration(rng.ExpFloat64()*float64(convThinkMean)))
	}
	return c
}

// textBlock is a content block; the breakpoint is set on the last user
// message only, as a client that moves it along the conversation does.
type textBlock struct {
	Type         string        `json:"type"`
	Text         string        `json:"text"`
	CacheControl *cacheControl `json:"cache_control,omitempty"`
}

type cacheControl struct {
	Type string `json:"type"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content any    `json:"content"`
}

// turnBody renders turn t (0-based) of c: the system prompt with a
// breakpoint, the earlier turns and their replies, and the new user message
// with a breakpoint and the directive for its reply's size.
func (c *conversationPlan) turnBody(t int) []byte {
	ephemeral := &cacheControl{Type: "ephemeral"}
	msgs := make([]chatMessage, 0, 2*t+1)
	for i := 0; i <= t; i++ {
		directive := fmt.Sprintf(" [[output_tokens=%d]]", c.output[i])
		text := filler(fmt.Sprintf("conversation %d turn %d: ", c.id, i), c.user[i]-len(directive)/4) + directive
		block := textBlock{Type: "text", Text: text}
		if i == t {
			block.CacheControl = ephemeral
		}
		msgs = append(msgs, chatMessage{Role: "user", Content: []textBlock{block}})
		if i < t {
			// The reply as the client keeps it: the fake's text for it is
			// the same length, which is all the prompt's size depends on.
			msgs = append(msgs, chatMessage{Role: "assistant", Content: filler("reply: ", c.output[i])})
		}
	}
	b, _ := json.Marshal(struct {
		Model     string        `json:"model"`
		MaxTokens int           `json:"max_tokens"`
		Stream    bool          `json:"stream"`
		System    []textBlock   `json:"system"`
		Messages  []chatMessage `json:"messages"`
	}{"claude-sim", 2 * c.output[t], c.stream,
		[]textBlock{{Type: "text", Text: systemPrompts[c.app], CacheControl: ephemeral}}, msgs})
	return b
}

// convMeans are the workload's mean turns per conversation and, per
// request, prompt tokens (the whole prompt), the prompt tokens an
// organisation charges against its input limit when every turn reads the
// conversation so far from its cache (the new user message and the reply
// before it, written to the cache; the system prompt is read), and reply
// tokens, computed exactly from the distributions above.
func convMeans() (turns, input, charged, output float64) {
	userMean := convUserMin + float64(convUserSpan-1)/2
	outMean := convOutMin + float64(convOutSpan-1)/2
	var requests, inputSum, chargedSum float64
	for n := convMinTurns; n <= convMaxTurns; n++ {
		for k := 0; k < n; k++ { // turn k resends k earlier exchanges
			inputSum += convSystemTokens + float64(k)*(userMean+outMean) + userMean
			chargedSum += userMean
			if k > 0 {
				chargedSum += outMean
			}
		}
		requests += float64(n)
	}
	kinds := float64(convMaxTurns - convMinTurns + 1)
	return requests / kinds, inputSum / requests, chargedSum / requests, outMean
}

// convCapacity is the requests per minute the organisations' limits allow
// for this workload: each organisation's binding dimension for the mean
// request, summed, with the input limit charged only what a perfectly
// cached turn costs (cache reads do not count against Anthropic's input
// limit). Demand is offered relative to it, so that at 150% every
// configuration, affine or not, is short of capacity.
func convCapacity() float64 {
	_, _, charged, out := convMeans()
	return capacityFor(charged, out)
}

// convUncachedCapacity is the same with nothing cached: every prompt token
// counted against the input limit.
func convUncachedCapacity() float64 {
	_, in, _, out := convMeans()
	return capacityFor(in, out)
}

func capacityFor(in, out float64) float64 {
	var c float64
	for _, o := range orgs {
		l := limits[o]
		c += math.Min(float64(l.RPM), math.Min(float64(l.ITPM)/in, float64(l.OTPM)/out))
	}
	return c
}
