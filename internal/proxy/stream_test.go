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
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

func TestStreamFlushedWhileUpstreamHolds(t *testing.T) {
	for _, prov := range []provider.Provider{provider.Anthropic, provider.OpenAI} {
		t.Run(prov.Name(), func(t *testing.T) {
			e := newEnv(t, envConfig{provider: prov, keys: limitedKeys()})
			release := e.fake.HoldStreams()
			// Should the proxy buffer, the events would only come once the
			// hold ends; the safety release marks that as a failure.
			var released atomic.Bool
			safety := time.AfterFunc(waitLimit, func() { released.Store(true); release() })
			defer safety.Stop()

			body, first := apitest.AnthropicBody("hello", true), "event: message_start"
			if prov == provider.OpenAI {
				body, first = apitest.OpenAIBody("hello", true), `"role":"assistant"`
			}
			resp := e.post(body)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			sr := apitest.NewSSEReader(resp.Body)
			ev, err := sr.Next()
			if err != nil {
				t.Fatalf("first event: %v", err)
			}
			if released.Load() {
				t.Fatal("the first event reached the client only after the upstream finished")
			}
			if !strings.Contains(ev, first) {
				t.Fatalf("first event %q, want %s", ev, first)
			}
			if e.keyStats("keys/k1").InFlight != 1 {
				t.Fatal("the lease was settled while the stream is open")
			}

			release()
			rest := readAll(t, resp.Body)
			if !strings.Contains(rest, "message_stop") && !strings.Contains(rest, "[DONE]") {
				t.Fatalf("stream did not complete: %q", rest)
			}
			e.waitIdle()
			fs := e.fake.Stats().Keys[keyValue(1)]
			if ks := e.keyStats("keys/k1"); ks.OTPMRemaining != tokenLimit-fs.OutputTokens || ks.ITPMRemaining != tokenLimit-fs.InputTokens {
				t.Errorf("usage not settled from the stream: %+v vs %+v", ks, fs)
			}
		})
	}
}

func TestNoRetryAfterFirstByte(t *testing.T) {
	for _, stream := range []bool{true, false} {
		t.Run(map[bool]string{true: "sse", false: "json"}[stream], func(t *testing.T) {
			e := newEnv(t, envConfig{keys: limitedKeys()})
			if err := e.fake.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultResetMidStream, Key: keyValue(1), Count: 1}); err != nil {
				t.Fatal(err)
			}
			resp := e.post(apitest.AnthropicBody("hello", stream))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if resp.Header.Get(HeaderAttempts) != "1" || resp.Header.Get(HeaderKey) != "keys/k1" {
				t.Fatalf("attempts %q key %q", resp.Header.Get(HeaderAttempts), resp.Header.Get(HeaderKey))
			}
			got, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatalf("the truncated response ended cleanly: %q", got)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Logf("read error: %v", err)
			}
			if stream && !strings.Contains(string(got), "message_start") {
				t.Fatalf("the first event did not arrive: %q", got)
			}
			e.waitIdle()
			if n := e.fake.Stats().Keys[keyValue(2)].Requests; n != 0 {
				t.Fatalf("retried on another key after the first byte (%d requests)", n)
			}
			if stream {
				// What was seen (message_start's input tokens) is settled.
				fs := e.fake.Stats().Keys[keyValue(1)]
				if ks := e.keyStats("keys/k1"); ks.ITPMRemaining != tokenLimit-fs.InputTokens {
					t.Errorf("ITPM remaining %d, want %d", ks.ITPMRemaining, tokenLimit-fs.InputTokens)
				}
			}
		})
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	for _, midStream := range []bool{false, true} {
		t.Run(map[bool]string{false: "before headers", true: "mid stream"}[midStream], func(t *testing.T) {
			arrived, cancelled := make(chan struct{}), make(chan struct{})
			e := newEnv(t, envConfig{
				upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					// Read the request first: net/http notices a closed
					// connection only once the body is consumed.
					_, _ = io.Copy(io.Discard, r.Body)
					if midStream {
						w.Header().Set("Content-Type", "text/event-stream")
						_, _ = io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":7}}}\n\n")
						_ = http.NewResponseController(w).Flush()
					}
					close(arrived)
					<-r.Context().Done()
					close(cancelled)
				}),
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/v1/messages", strings.NewReader(apitest.AnthropicBody("hi", true)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Api-Key", clientToken)
			errc := make(chan error, 1)
			go func() {
				resp, err := e.front.Client().Do(req)
				if err == nil {
					sr := apitest.NewSSEReader(resp.Body)
					_, _ = sr.Next()
					<-arrived
					cancel()
					_, err = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
				}
				errc <- err
			}()
			<-arrived
			if !midStream {
				cancel()
			}
			select {
			case <-cancelled:
			case <-time.After(waitLimit):
				t.Fatal("the upstream request was not cancelled")
			}
			if err := <-errc; err == nil {
				t.Fatal("client request did not fail")
			}
			e.waitIdle()
			code := "499"
			if midStream {
				code = "200" // the status went out before the client left
			}
			if n := testutil.ToFloat64(e.proxy.metrics.requests.WithLabelValues(namespace, poolName, "keys/k1", code)); n != 1 {
				t.Errorf("requests{code=%s} = %v", code, n)
			}
			if st := e.keyStats("keys/k1"); st.State != keypool.StateAvailable || st.LastError != "" {
				t.Errorf("a client's cancellation counted against the key: %+v", st)
			}
		})
	}
}
