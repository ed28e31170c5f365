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

import (
	"net/http"
	"testing"
	"time"
)

// reserveConfig is orgA with an OTPM of 1,000 and max_tokens admission on
// (the default).
func reserveConfig() Config {
	return orgAConfig(Limits{RPM: 100, ITPM: 100_000, OTPM: 1_000})
}

// TestMaxTokensAdmission: max_tokens is reserved at the start, a request
// whose max_tokens does not fit is refused with the output headers and the
// time until it fits, and the unused reservation comes back at the end.
func TestMaxTokensAdmission(t *testing.T) {
	f := newFixture(t, reserveConfig())
	post := func(maxTokens int) *http.Response {
		t.Helper()
		resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody(prompt40, maxTokens, false)))
		f.waitDone(t, 1) // the handler has settled the reservation
		return resp
	}
	resp := post(600)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	// The headers are taken at admission: 600 reserved.
	wantHeaders(t, "first", resp.Header, map[string]string{"Anthropic-Ratelimit-Output-Tokens-Remaining": "400"})

	// 600 - 32 came back: 968 left, enough for 900 (without the refund, 400
	// would not be).
	resp = post(900)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second: %d", resp.StatusCode)
	}
	wantHeaders(t, "second", resp.Header, map[string]string{"Anthropic-Ratelimit-Output-Tokens-Remaining": "68"})

	// 936 left now; 1,000 does not fit: 64 tokens at 1,000/min is 3.84s.
	resp = post(1000)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third: %d", resp.StatusCode)
	}
	wantHeaders(t, "third", resp.Header, map[string]string{
		"Retry-After": "4", "Anthropic-Ratelimit-Output-Tokens-Limit": "1000",
		"Anthropic-Ratelimit-Output-Tokens-Remaining": "936", "Anthropic-Ratelimit-Requests-Remaining": "98",
	})
	if got := f.p.Stats().Keys["k1"].OutputTokens; got != 2*DefaultOutputTokens {
		t.Errorf("output counted %d, want the real output %d", got, 2*DefaultOutputTokens)
	}
	f.clock.Advance(4 * time.Second)
	if resp := post(1000); resp.StatusCode != http.StatusOK {
		t.Fatalf("after retry-after: %d", resp.StatusCode)
	}
	if got := f.p.Levels()["orgA"].OutputTokens; got != 1000-DefaultOutputTokens {
		t.Errorf("output level %v, want %d", got, 1000-DefaultOutputTokens)
	}
}

// TestMaxTokensAdmissionStreaming: a stream holds its reservation while it
// runs, so a request that only fits with it refunded is refused meanwhile,
// and served once the stream ends.
func TestMaxTokensAdmissionStreaming(t *testing.T) {
	f := newFixture(t, reserveConfig())
	f.p.HoldStreams()
	defer f.p.ReleaseStreams() // a failed check must not leave the stream held
	stream, err := f.postAnthropic(t, t.Context(), "k1", anthropicBody(prompt40, 600, true))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	wantHeaders(t, "stream", stream.Header, map[string]string{"Anthropic-Ratelimit-Output-Tokens-Remaining": "400"})

	// Not a stream, so that if it were wrongly admitted the hold could not
	// keep the test waiting.
	resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody(prompt40, 500, false)))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("while streaming: %d", resp.StatusCode)
	}
	// 100 tokens short at 1,000/min: 6s.
	wantHeaders(t, "while streaming", resp.Header, map[string]string{
		"Retry-After": "6", "Anthropic-Ratelimit-Output-Tokens-Remaining": "400",
	})

	f.p.ReleaseStreams()
	events := newSSEReader(stream.Body).all(t)
	if last := events[len(events)-1]; last.name != "message_stop" {
		t.Fatalf("stream ended with %+v", last)
	}
	f.waitDone(t, 2) // the refused request and the stream, settled

	resp, _ = mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody(prompt40, 900, true)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the stream: %d", resp.StatusCode)
	}
	wantHeaders(t, "after the stream", resp.Header, map[string]string{"Anthropic-Ratelimit-Output-Tokens-Remaining": "68"})
}

// TestMaxTokensAdmissionOff: with OutputAfterTheFact the output bucket only
// has to be non-empty; the admin endpoint turns the rule on at run time;
// OpenAI requests never reserve.
func TestMaxTokensAdmissionOff(t *testing.T) {
	cfg := reserveConfig()
	cfg.OutputAfterTheFact = true
	f := newFixture(t, cfg)
	post := func() *http.Response {
		t.Helper()
		resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody(prompt40, 1000, false)))
		f.waitDone(t, 1)
		return resp
	}
	resp := post()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wantHeaders(t, "off", resp.Header, map[string]string{"Anthropic-Ratelimit-Output-Tokens-Remaining": "1000"})
	if code, body := f.admin(t, "GET", "/_fake/admission", ""); code != 200 || string(body) != `{"max_tokens":false}`+"\n" {
		t.Errorf("GET admission: %d %s", code, body)
	}
	if code, body := f.admin(t, "POST", "/_fake/admission?max_tokens=on", ""); code != 200 || !f.p.AdmitOutputOnMaxTokens() {
		t.Fatalf("POST admission: %d %s", code, body)
	}
	if code, _ := f.admin(t, "POST", "/_fake/admission?max_tokens=maybe", ""); code != http.StatusBadRequest {
		t.Errorf("bad switch: %d", code)
	}
	// 968 left: 1,000 no longer fits.
	if resp := post(); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("with the rule on: %d", resp.StatusCode)
	}

	g := newFixture(t, Config{Keys: []Key{{Key: "k1", Org: "orgA"}},
		Limits: map[string]Limits{"orgA": {RPM: 100, TPM: 1_000}}})
	body := `{"model":"gpt-test","max_tokens":900,"messages":[{"role":"user","content":"` + prompt40 + `"}]}`
	resp, _ = mustDo(t)(g.postOpenAI(t, t.Context(), "k1", body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openai status %d", resp.StatusCode)
	}
	// Only the input estimate (10) was taken at the start.
	wantHeaders(t, "openai", resp.Header, map[string]string{"X-Ratelimit-Remaining-Tokens": "990"})
}
