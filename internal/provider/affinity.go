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
	"bytes"
	"hash/maphash"
)

// affinitySeed keys the affinity hashes; they only live in this process's
// memory, so a per-process seed is enough (and keeps them unpredictable).
var affinitySeed = maphash.MakeSeed()

// affinityPrefixBytes is how much of the system prompt and of the first user
// message the prefix hash covers. Prompts that agree this far share their
// cacheable prefix at least that far; hashing more would cost time on every
// request for little gain.
const affinityPrefixBytes = 2 << 10

// AffinityKey is what a request body shares with the requests of the same
// conversation, as a hash: its session id when it carries one (Anthropic's
// metadata.user_id, OpenAI's prompt_cache_key or user), else its prompt's
// head (the system prompt and the first user message, whose turns all
// repeat it: Anthropic's system and messages, OpenAI's messages, Gemini's
// systemInstruction and contents). 0 when the body has neither. Only the
// hash leaves this function, never the content. It reads the top level of
// the body and skips the rest without decoding, and does not allocate.
func AffinityKey(body []byte) uint64 {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return 0
	}
	var (
		h                        maphash.Hash
		prefix                   bool
		cacheKey, metaUser, user []byte // session ids, most specific first
	)
	h.SetSeed(affinitySeed)
	for i := 1; i < len(b); {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			break // the end of the object, or not JSON we understand
		}
		end := stringEnd(b, i+1)
		key := b[i+1 : min(end, len(b))]
		i = skipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			break
		}
		i = skipSpace(b, i+1)
		vEnd := valueEnd(b, i)
		v := b[i:vEnd]
		switch string(key) {
		case "prompt_cache_key":
			cacheKey = v
		case "user":
			user = v
		case "metadata":
			metaUser = objectField(v, "user_id")
		case "system", "systemInstruction", "system_instruction":
			writeHead(&h, 's', v)
			prefix = true
		case "messages", "contents":
			if head := conversationHead(&h, v); head {
				prefix = true
			}
		}
		i = skipSpace(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
	switch session := firstID(cacheKey, metaUser, user); {
	case session != nil:
		h.Reset()
		_ = h.WriteByte('u')
		_, _ = h.Write(session)
	case !prefix:
		return 0
	}
	return max(h.Sum64(), 1) // 0 means "no affinity"
}

// cacheControlKey is the member clients add to the block they want cached.
var cacheControlKey = []byte(`"cache_control"`)

// firstID returns the first of ids that is a session id: present, not
// null and not empty.
func firstID(ids ...[]byte) []byte {
	for _, id := range ids {
		if len(id) > 0 && string(id) != "null" && string(id) != `""` {
			return id
		}
	}
	return nil
}

// writeHead hashes a tagged, bounded part of the prompt's head as it is,
// except for cache_control members: clients move that marker from turn to
// turn (onto the newest message) without changing the prompt. The bytes
// written are the part without the member and its comma, so a block hashes
// the same with the marker or without.
func writeHead(h *maphash.Hash, tag byte, v []byte) {
	_ = h.WriteByte(tag)
	budget := affinityPrefixBytes
	for len(v) > 0 && budget > 0 {
		j := bytes.Index(v, cacheControlKey)
		if j < 0 {
			_, _ = h.Write(v[:min(len(v), budget)])
			return
		}
		before := bytes.TrimRight(v[:j], " \t\r\n,")
		before = before[:min(len(before), budget)]
		_, _ = h.Write(before)
		budget -= len(before)
		i := skipSpace(v, j+len(cacheControlKey))
		if i < len(v) && v[i] == ':' {
			i = valueEnd(v, skipSpace(v, i+1))
		}
		if i = skipSpace(v, i); i < len(v) && v[i] == ',' && len(before) > 0 && before[len(before)-1] == '{' {
			i++ // the member came first: its comma goes with it
		}
		v = v[i:]
	}
}

// conversationHead hashes the messages of arr up to and including the first
// user message: instructions (system, developer) and the message that starts
// the conversation. It reports whether it found a user message.
func conversationHead(h *maphash.Hash, arr []byte) bool {
	if len(arr) == 0 || arr[0] != '[' {
		return false
	}
	for i := 1; i < len(arr); {
		i = skipSpace(arr, i)
		if i >= len(arr) || arr[i] == ']' {
			return false
		}
		end := valueEnd(arr, i)
		msg := arr[i:end]
		writeHead(h, 'm', msg)
		if role := objectField(msg, "role"); role == nil || string(role) == `"user"` {
			return true // Gemini's first content may omit the role: it is the user's
		}
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i++
		}
	}
	return false
}

// objectField returns the raw value of key in the JSON object obj (its top
// level only), or nil.
func objectField(obj []byte, key string) []byte {
	if len(obj) == 0 || obj[0] != '{' {
		return nil
	}
	for i := 1; i < len(obj); {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return nil
		}
		end := stringEnd(obj, i+1)
		k := obj[i+1 : min(end, len(obj))]
		i = skipSpace(obj, end+1)
		if i >= len(obj) || obj[i] != ':' {
			return nil
		}
		i = skipSpace(obj, i+1)
		vEnd := valueEnd(obj, i)
		if string(k) == key {
			return obj[i:vEnd]
		}
		i = skipSpace(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
	return nil
}

// valueEnd returns the index just past the JSON value starting at i.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return min(stringEnd(b, i+1)+1, len(b))
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = stringEnd(b, i+1)
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++ // a number or literal
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}
