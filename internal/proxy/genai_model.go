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
	"strconv"
	"strings"
	"sync"
)

// genaiModelCap is how many distinct gen_ai.request.model values one pool
// records; later ones read modelOther. The model is the client's to name,
// and every value is a series of each GenAI histogram: without a cap one
// client could fill the OpenTelemetry SDK's series limit, after which the
// SDK folds every new series, other pools' too, into an overflow series.
const genaiModelCap = 32

// modelOther stands for every model of a pool past its genaiModelCap.
const modelOther = "other"

// maxModelLen bounds one model value; a longer one is no model name.
const maxModelLen = 128

// poolRef names a pool.
type poolRef struct{ namespace, name string }

// modelSets holds each pool's distinct model values, up to genaiModelCap.
type modelSets struct {
	pools sync.Map // poolRef -> *modelSet
}

type modelSet struct {
	mu   sync.RWMutex
	seen map[string]struct{}
}

// bound returns model if the pool has recorded it or has room for it,
// else modelOther.
func (m *modelSets) bound(pool poolRef, model string) string {
	if model == "" {
		return ""
	}
	if len(model) > maxModelLen {
		return modelOther
	}
	v, ok := m.pools.Load(pool)
	if !ok {
		v, _ = m.pools.LoadOrStore(pool, &modelSet{seen: make(map[string]struct{}, 4)})
	}
	s := v.(*modelSet)
	s.mu.RLock()
	_, known := s.seen[model]
	s.mu.RUnlock()
	if known {
		return model
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known = s.seen[model]; known || len(s.seen) < genaiModelCap {
		s.seen[model] = struct{}{}
		return model
	}
	return modelOther
}

// forget drops a deleted pool's values.
func (m *modelSets) forget(pool poolRef) { m.pools.Delete(pool) }

// requestModel is the model a request names where its provider defines it:
// Gemini names it in the path (/v1beta/models/{model}:generateContent),
// Azure OpenAI its deployment (/openai/deployments/{deployment}/...); the
// others, and Azure's /openai/v1/ paths, in the body's top-level "model".
// A "model" anywhere else in the body (a tool's schema, a message's text) is
// the client's content, not the request's model.
func requestModel(provider, rest string, body []byte) string {
	switch {
	case provider == "gemini":
		return geminiModel(rest)
	case provider == "azure" && strings.HasPrefix(rest, azureDeployments):
		d, _, _ := strings.Cut(rest[len(azureDeployments):], "/")
		return d
	}
	return topLevelString(body, "model")
}

const azureDeployments = "/openai/deployments/"

// geminiModel is the {model} of a path .../models/{model}:method (or
// tunedModels/{model}:method).
func geminiModel(rest string) string {
	i := strings.LastIndex(rest, "odels/")
	if i < 0 {
		return ""
	}
	m, _, found := strings.Cut(rest[i+len("odels/"):], ":")
	if !found || strings.IndexByte(m, '/') >= 0 {
		return ""
	}
	return m
}

// topLevelString returns the string value of key in the JSON object b, only
// at its top level; "" when b is no object, the key is missing or its value
// is not a string. The body is scanned, not decoded (it can be megabytes of
// prompt), and the scan stops at the key.
func topLevelString(b []byte, key string) string {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return ""
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return ""
		}
		end := jsonStringEnd(b, i)
		if end < 0 {
			return ""
		}
		k := b[i:end]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return ""
		}
		i = skipSpace(b, i+1)
		if jsonKeyIs(k, key) {
			if i >= len(b) || b[i] != '"' {
				return ""
			}
			vend := jsonStringEnd(b, i)
			if vend < 0 {
				return ""
			}
			s, err := strconv.Unquote(string(b[i:vend]))
			if err != nil {
				return ""
			}
			return s
		}
		if i = skipValue(b, i); i < 0 {
			return ""
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ',' {
			return ""
		}
		i++
	}
}

// jsonKeyIs reports whether the quoted JSON string k is key; an escaped
// spelling ("mod\u0065l") is the same key to a JSON decoder.
func jsonKeyIs(k []byte, key string) bool {
	if len(k) == len(key)+2 && string(k[1:len(k)-1]) == key {
		return true
	}
	if strings.IndexByte(string(k), '\\') < 0 {
		return false
	}
	s, err := strconv.Unquote(string(k))
	return err == nil && s == key
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// jsonStringEnd returns the index after the string that starts at b[i]
// (a quote), or -1 when it does not end.
func jsonStringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value that starts at b[i], or
// -1 when it does not end. Nested objects and arrays are skipped by depth,
// strings by their quotes.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return jsonStringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = jsonStringEnd(b, j); j < 0 {
					return -1
				}
				j-- // the loop's j++ lands after the string
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	for j := i; j < len(b); j++ { // a number, true, false or null
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return len(b)
}
