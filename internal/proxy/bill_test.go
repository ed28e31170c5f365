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

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/quota"
)

// budgeted gives the env's named clients (team-a is clientToken's) a daily
// token budget of daily, so that what each was charged shows in its spend.
func budgeted(t *testing.T, e *env, keys []keypool.KeyConfig, daily int64) {
	t.Helper()
	if err := e.pool.Update(keypool.PoolConfig{Keys: keys, Access: *e.pool.Access(), Clients: []keypool.ClientConfig{
		{Name: "team-a", Quota: quota.Limits{DailyTokens: daily}},
		{Name: "team-b", Quota: quota.Limits{DailyTokens: daily}},
	}}); err != nil {
		t.Fatal(err)
	}
}

// spent is what client spent of its daily budget.
func (e *env) spent(client string) int64 {
	for _, c := range e.pool.ClientStats() {
		if c.Name == client && c.Budget != nil {
			return c.Budget.DayTokens
		}
	}
	return -1
}

// delta is the content every test delta carries: 20 ASCII bytes, which a
// provider tokenising four bytes a token charges 5 tokens.
const delta = "abcdefghijklmnopqrst"

// TestHangUpChargesWhatWasStreamed: a client that hangs up after the last
// content event and before the final usage event got the whole answer; the
// key's output bucket and the client's budget are charged at least what
// was streamed, not the input only.
func TestHangUpChargesWhatWasStreamed(t *testing.T) {
	const deltas, input = 100, 11
	const streamed = deltas * 5
	events := map[provider.Provider]func(w io.Writer){
		provider.Anthropic: func(w io.Writer) {
			_, _ = fmt.Fprintf(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":%d,\"output_tokens\":1}}}\n\n", input)
			for range deltas {
				_, _ = fmt.Fprintf(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":%q}}\n\n", delta)
			}
		},
		provider.OpenAI: func(w io.Writer) {
			for range deltas {
				_, _ = fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}],\"usage\":null}\n\n", delta)
			}
		},
	}
	for prov, write := range events {
		t.Run(prov.Name(), func(t *testing.T) {
			keys := limitedKeys()
			e := newEnv(t, envConfig{provider: prov, keys: keys, clientNames: []string{"team-b", "team-a"},
				upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					write(w)
					w.(http.Flusher).Flush()
					<-r.Context().Done() // the final usage event never comes: the client left
				})})
			budgeted(t, e, keys, 10*tokenLimit)

			ctx, cancel := context.WithCancel(t.Context())
			resp := e.do(ctx, http.MethodPost, map[provider.Provider]string{provider.Anthropic: "/v1/messages",
				provider.OpenAI: "/v1/chat/completions"}[prov], apitest.Body(prov, "hi", true),
				map[string]string{"X-Api-Key": clientToken, "Authorization": "Bearer " + clientToken,
					"Anthropic-Version": "2023-06-01", "Content-Type": "application/json"})
			sc := bufio.NewScanner(resp.Body)
			for seen := 0; seen < deltas && sc.Scan(); {
				seen += strings.Count(sc.Text(), delta)
			}
			cancel() // the whole answer is in; hang up
			e.waitIdle()

			if got := e.spent("team-a"); got < input+streamed {
				t.Errorf("client charged %d tokens for %d streamed output tokens", got, streamed)
			}
			if ks := e.keyStats("keys/k1"); tokenLimit-ks.OTPMRemaining < streamed {
				t.Errorf("key's output bucket charged %d, want >= %d streamed", tokenLimit-ks.OTPMRemaining, streamed)
			}
		})
	}
}

// TestNoCrossClientEstimate is the reproduction: team-b's 20 short
// OpenAI streams report no usage while team-a asks for long answers of
// prompts of the same size; team-b is charged its own answers, never the
// output team-a's answers taught the pool.
func TestNoCrossClientEstimate(t *testing.T) {
	keys := limitedKeys()
	e := newEnv(t, envConfig{provider: provider.OpenAI, keys: keys, clientNames: []string{"team-b", "team-a"}})
	budgeted(t, e, keys, 100*tokenLimit)
	prompt := strings.Repeat("count me ", 40)
	long := apitest.OpenAIBody(prompt+"[[output_tokens=20000]]", true)
	short := strings.Replace(apitest.OpenAIBody(prompt+"[[output_tokens=2]]", true),
		`"include_usage":true`, `"include_usage":false`, 1)
	for range 3 {
		wantStatus(t, e.post(long), http.StatusOK) // team-a, clientToken
	}
	e.waitIdle()
	for range 20 {
		got := wantStatus(t, e.do(t.Context(), http.MethodPost, "/v1/chat/completions", short,
			map[string]string{"Authorization": "Bearer another-client", "Content-Type": "application/json"}), http.StatusOK)
		if strings.Contains(got, `"usage":{`) {
			t.Fatalf("the short stream reported usage: %s", got)
		}
	}
	e.waitIdle()
	est := provider.OpenAI.EstimateInputTokens([]byte(short))
	// Each short answer streamed 2 tokens ("the fox "): its input estimate
	// and those are charged, give or take a token of rounding.
	if got, most := e.spent("team-b"), 20*(est+3); got > most || got < 20*(est+2) {
		t.Errorf("team-b charged %d tokens for 20 two-token streams, want about %d (its own input and output)", got, 20*(est+2))
	}
}

// TestCountTokensNotChargedAsOutput: count_tokens generates nothing; ten
// calls cost the key's output bucket and the client's budget nothing, even
// after the pool learned long answers.
func TestCountTokensNotChargedAsOutput(t *testing.T) {
	keys := limitedKeys()
	e := newEnv(t, envConfig{keys: keys, clientNames: []string{"team-b", "team-a"},
		upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if strings.HasSuffix(r.URL.Path, "/count_tokens") {
				_, _ = io.WriteString(w, `{"input_tokens":4016}`)
				return
			}
			_, _ = io.WriteString(w, `{"type":"message","usage":{"input_tokens":10,"output_tokens":4400}}`)
		})})
	budgeted(t, e, keys, 10*tokenLimit)
	wantStatus(t, e.post(apitest.AnthropicBody("hi", false)), http.StatusOK) // the pool learns 4,400 output tokens
	e.waitIdle()
	before, otpm := e.spent("team-a"), e.keyStats("keys/k1").OTPMRemaining
	for range 10 {
		wantStatus(t, e.do(t.Context(), http.MethodPost, "/v1/messages/count_tokens", apitest.AnthropicBody("hi", false),
			map[string]string{"X-Api-Key": clientToken, "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"}),
			http.StatusOK)
	}
	e.waitIdle()
	if got := e.spent("team-a") - before; got != 0 {
		t.Errorf("10 count_tokens calls cost %d budget tokens, want 0", got)
	}
	if got := otpm - e.keyStats("keys/k1").OTPMRemaining; got != 0 {
		t.Errorf("10 count_tokens calls took %d of the key's output bucket, want 0", got)
	}
}

// TestBudgetHoldsUnderConcurrency: 40 concurrent requests against
// dailyTokens 1000. Each reserves its estimated cost (input estimate plus
// max_tokens) at admission, so only as many as fit are served, and the
// budget is overdrawn at most by what they used beyond their estimates.
func TestBudgetHoldsUnderConcurrency(t *testing.T) {
	const n, budget, maxTokens, realInput = 40, 1000, 100, 50
	gate := make(chan struct{})
	// One event per request, when it is held upstream or refused.
	placed := make(chan struct{}, n)
	keys := limitedKeys()
	e := newEnv(t, envConfig{keys: keys, clientNames: []string{"team-b", "team-a"},
		upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			placed <- struct{}{}
			<-gate
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"type":"message","usage":{"input_tokens":%d,"output_tokens":%d}}`, realInput, maxTokens)
		})})
	budgeted(t, e, keys, budget)
	body := apitest.BodyWithMax(provider.Anthropic, "hi", false, maxTokens)
	est := provider.Anthropic.EstimateInputTokens([]byte(body)) + maxTokens

	var refused atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp := e.post(body)
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode == http.StatusTooManyRequests {
				refused.Add(1)
				placed <- struct{}{}
			}
		})
	}
	// Every request is either refused or held upstream before any settles.
	for range n {
		<-placed
	}
	close(gate)
	wg.Wait()
	e.waitIdle()

	served := n - refused.Load()
	if served > budget/est+1 {
		t.Errorf("%d of %d concurrent requests served against dailyTokens %d (estimate %d each)", served, n, budget, est)
	}
	over := max(realInput+maxTokens-est, 0)
	if got := e.spent("team-a"); got > budget+served*over {
		t.Errorf("spent %d of %d with %d served, each %d over its estimate", got, budget, served, over)
	}
	t.Logf("%d of %d served, %d tokens spent of %d (estimate %d per request)", served, n, e.spent("team-a"), budget, est)
}

// TestOutputReservedOnMaxTokens: Anthropic admits output on max_tokens and
// refunds what was not used at the end; the pool holds the request's
// max_tokens on the key's output bucket while it is in flight, and settles
// to the real output.
func TestOutputReservedOnMaxTokens(t *testing.T) {
	const maxTokens, output = 8000, 120
	inFlight, release := make(chan struct{}), make(chan struct{})
	keys := limitedKeys()
	e := newEnv(t, envConfig{keys: keys, upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"type":"message","usage":{"input_tokens":10,"output_tokens":%d}}`, output)
	})})
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp := e.post(apitest.BodyWithMax(provider.Anthropic, "hi", false, maxTokens))
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	<-inFlight
	if held := tokenLimit - e.keyStats("keys/k1").OTPMRemaining; held != maxTokens {
		t.Errorf("in flight, the key's output bucket holds %d, want max_tokens %d", held, maxTokens)
	}
	close(release)
	<-done
	e.waitIdle()
	if used := tokenLimit - e.keyStats("keys/k1").OTPMRemaining; used != output {
		t.Errorf("settled, the key's output bucket is charged %d, want the real %d", used, output)
	}
}
