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

import (
	"encoding/json"
	"strings"
	"testing"
)

// chat renders a request body: fields in the given order, messages as
// role/content pairs.
func chat(t *testing.T, fields ...any) []byte {
	t.Helper()
	var sb strings.Builder
	sb.WriteByte('{')
	for i := 0; i+1 < len(fields); i += 2 {
		if i > 0 {
			sb.WriteByte(',')
		}
		k, _ := json.Marshal(fields[i])
		v, err := json.Marshal(fields[i+1])
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(k)
		sb.WriteByte(':')
		sb.Write(v)
	}
	sb.WriteByte('}')
	return []byte(sb.String())
}

type msg = map[string]any

func turns(first string, n int) []msg {
	out := []msg{{"role": "user", "content": first}}
	for i := 1; i < n; i++ {
		out = append(out, msg{"role": "assistant", "content": "answer " + strings.Repeat("x", i)},
			msg{"role": "user", "content": []msg{{"type": "text", "text": "follow-up \"quoted\" " + strings.Repeat("y", i)}}})
	}
	return out
}

func TestAffinityKeyFollowsAnthropicConversation(t *testing.T) {
	sys := "You are helpful. " + strings.Repeat("rules ", 100)
	k1 := AffinityKey(chat(t, "model", "claude", "max_tokens", 10, "system", sys, "messages", turns("hello, plan my trip", 1)))
	k3 := AffinityKey(chat(t, "model", "claude", "max_tokens", 10, "system", sys, "messages", turns("hello, plan my trip", 3), "stream", true))
	other := AffinityKey(chat(t, "model", "claude", "max_tokens", 10, "system", sys, "messages", turns("write a poem", 3)))
	otherSys := AffinityKey(chat(t, "model", "claude", "system", "Be terse.", "messages", turns("hello, plan my trip", 1)))
	if k1 == 0 || k1 != k3 {
		t.Fatalf("turns of one conversation: %x and %x, want one non-zero key", k1, k3)
	}
	if other == k1 || otherSys == k1 {
		t.Fatal("conversations that start differently share a key")
	}
}

func TestAffinityKeyOpenAISkipsInstructionsToFirstUserMessage(t *testing.T) {
	sys := msg{"role": "system", "content": "You are helpful."}
	a := AffinityKey(chat(t, "model", "gpt", "messages", append([]msg{sys}, turns("first question", 1)...)))
	b := AffinityKey(chat(t, "model", "gpt", "messages", append([]msg{sys}, turns("first question", 4)...)))
	c := AffinityKey(chat(t, "model", "gpt", "messages", append([]msg{sys}, turns("another question", 4)...)))
	if a == 0 || a != b || a == c {
		t.Fatalf("keys %x %x %x: want the first two equal and the third different", a, b, c)
	}
}

func TestAffinityKeySessionIDs(t *testing.T) {
	meta := func(id string, prompt string) uint64 {
		return AffinityKey(chat(t, "messages", turns(prompt, 1), "model", "claude", "metadata", msg{"user_id": id}))
	}
	if meta("u-1", "one") != meta("u-1", "two") {
		t.Fatal("metadata.user_id should decide the key whatever the prompt (even after messages)")
	}
	if meta("u-1", "one") == meta("u-2", "one") {
		t.Fatal("different users share a key")
	}
	withKey := AffinityKey(chat(t, "model", "gpt", "user", "alice", "prompt_cache_key", "conv-9", "messages", turns("x", 1)))
	sameKey := AffinityKey(chat(t, "prompt_cache_key", "conv-9", "model", "gpt", "user", "bob", "messages", turns("y", 1)))
	byUser := AffinityKey(chat(t, "model", "gpt", "user", "alice", "messages", turns("x", 1)))
	if withKey != sameKey || withKey == byUser {
		t.Fatalf("prompt_cache_key should win over user: %x %x %x", withKey, sameKey, byUser)
	}
	// An empty id is no id: the prompt decides.
	if AffinityKey(chat(t, "user", "", "messages", turns("x", 1))) != AffinityKey(chat(t, "messages", turns("x", 1))) {
		t.Fatal("an empty user should be ignored")
	}
}

func TestAffinityKeyGemini(t *testing.T) {
	c := func(n int) []msg {
		out := []msg{{"parts": []msg{{"text": "start"}}}}
		for range n {
			out = append(out, msg{"role": "model", "parts": []msg{{"text": "reply"}}})
		}
		return out
	}
	if a, b := AffinityKey(chat(t, "contents", c(0))), AffinityKey(chat(t, "contents", c(2))); a == 0 || a != b {
		t.Fatalf("gemini turns: %x %x", a, b)
	}
}

func TestAffinityKeyNone(t *testing.T) {
	for _, body := range []string{``, `not json`, `[1,2]`, `{"model":"m"}`, `{"messages":[]}`, `{"messages":"x"}`, `{"a":`} {
		if k := AffinityKey([]byte(body)); k != 0 {
			t.Errorf("AffinityKey(%q) = %x, want 0", body, k)
		}
	}
}

func TestAffinityKeyDoesNotAllocate(t *testing.T) {
	body := chat(t, "model", "claude", "system", strings.Repeat("s", 5000), "messages", turns("hello", 20), "metadata", msg{"user_id": "u"})
	if n := testing.AllocsPerRun(100, func() { AffinityKey(body) }); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}

func BenchmarkAffinityKey(b *testing.B) {
	t := &testing.T{}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"small", chat(t, "model", "claude", "max_tokens", 100, "messages", turns("hello", 1))},
		{"conversation-20-turns", chat(t, "model", "claude", "max_tokens", 100, "system", strings.Repeat("s", 6000), "messages", turns(strings.Repeat("q", 800), 20))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				AffinityKey(tc.body)
			}
		})
	}
}

// Clients move the cache_control breakpoint onto the newest message, so the
// first message carries it in turn 1 only: the key must not change.
func TestAffinityKeyIgnoresMovingBreakpoints(t *testing.T) {
	cc := msg{"type": "ephemeral"}
	first := func(marked bool) msg {
		b := msg{"type": "text", "text": "plan my trip"}
		if marked {
			b["cache_control"] = cc
		}
		return msg{"role": "user", "content": []msg{b}}
	}
	sys := []msg{{"type": "text", "text": "You are helpful.", "cache_control": cc}}
	turn1 := AffinityKey(chat(t, "system", sys, "messages", []msg{first(true)}))
	turn2 := AffinityKey(chat(t, "system", sys, "messages", []msg{first(false), {"role": "assistant", "content": "ok"},
		{"role": "user", "content": []msg{{"type": "text", "text": "more", "cache_control": cc}}}}))
	if turn1 != turn2 {
		t.Fatal("moving the breakpoint changed the conversation's key")
	}
	if AffinityKey(chat(t, "system", sys, "messages", []msg{{"role": "user", "content": "plan my trip!"}})) == turn1 {
		t.Fatal("a different first message has the same key")
	}
}

// FuzzAffinityKey: any body, however malformed, is read to its end without
// a panic, and the same body always gives the same key.
func FuzzAffinityKey(f *testing.F) {
	for _, s := range []string{`{"system":"s","messages":[{"role":"user","content":"x"}]}`, `{"metadata":{"user_id":"u"}}`,
		`{"messages":[,]}`, `{"a":}`, `{"messages":[{"role":"user","content":[{"type":"text","cache_control":{"type":"ephemeral"}}]}]}`,
		`{"system":"\"","messages":"`, `[`, `{"prompt_cache_key":null,"user":""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		first := AffinityKey(body)
		if again := AffinityKey(body); again != first {
			t.Fatalf("the same body gave keys %x and %x", first, again)
		}
	})
}
