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
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
)

// DefaultOutputTokens is the number of output tokens a response carries when
// Config.OutputTokens is zero and the request has no directive.
const DefaultOutputTokens = 32

// DefaultStreamChunkTokens is the number of output tokens per streamed text
// delta when Config.StreamChunkTokens is zero.
const DefaultStreamChunkTokens = 8

// maxOutputTokens bounds a response's size, because the fake really writes
// one word per output token and a directive could otherwise ask for gigabytes.
const maxOutputTokens = 200_000

// Config describes the fake provider's accounts.
type Config struct {
	// Keys are the API keys the provider accepts. A repeated key keeps its
	// first entry.
	Keys []Key
	// Limits are per-organisation limits, keyed by Key.Org. All keys of an
	// organisation share its buckets, like real provider orgs. A key whose
	// organisation has no entry is unlimited.
	//
	// Real providers limit per organisation *and model* (see classes.go), so
	// a request draws on the buckets of its model's class (ModelClasses): the
	// organisation's Limits.Classes entry for that class if there is one, a
	// set of its own; otherwise the organisation's default set, which every
	// model without class limits shares (or, with SeparateModels, a set of
	// its own with the default limits). The shared default keeps configs
	// written before classes existed behaving exactly as they did. Every
	// answer's rate-limit headers, and a 429 with its retry-after, are about
	// the set the request drew on and nothing else.
	Limits map[string]Limits
	// ModelClasses says which models share a class's buckets: keys are model
	// names, or prefixes ending in "*" (the longest matching prefix wins),
	// values class names. A model that matches nothing is a class of its
	// own, named like the model. The model is the body's "model" (Anthropic,
	// OpenAI, Azure's v1 path), the deployment in an Azure deployment path,
	// or the model in a Gemini path.
	ModelClasses map[string]string
	// SeparateModels gives every class without limits of its own a bucket
	// set of its own with the organisation's default limits, as a real
	// provider does for every model; by default they share the default set.
	SeparateModels bool
	// OutputAfterTheFact turns off the admission of Anthropic requests on
	// output as Anthropic documents it, which is the default: max_tokens is
	// reserved from the output bucket when the request starts (a request
	// whose max_tokens does not fit is refused with 429), and the unused
	// part is refunded when it ends (see reserve.go). With it, output is
	// charged after the fact and the output bucket only has to be non-empty
	// at the start, as for the other APIs.
	OutputAfterTheFact bool
	// OutputTokens is the number of output tokens a response carries, capped
	// by the request's max_tokens. Zero means DefaultOutputTokens. A request
	// whose last user message contains [[output_tokens=N]] gets N instead.
	OutputTokens int64
	// StreamChunkTokens is the number of output tokens per streamed text
	// delta. Zero means DefaultStreamChunkTokens.
	StreamChunkTokens int64
	// StartEmpty makes every bucket start empty and fill at its per-minute
	// rate, so short benchmark runs are not inflated by a full first minute.
	// By default buckets start full, as a provider account at rest does.
	StartEmpty bool
	// Clock drives all limit math. Nil means the wall clock.
	Clock clock.Clock
	// PromptCacheTTL is how long a cached prompt prefix lives after its
	// last use (see cache.go): zero means DefaultPromptCacheTTL, negative
	// turns prompt caching off. Anthropic's "ttl":"1h" breakpoints live an
	// hour either way.
	PromptCacheTTL time.Duration
}

// Key is one API key and the organisation whose limits it draws on.
type Key struct {
	// Key is the API key value clients send.
	Key string
	// Org names the organisation; keys with the same Org share limits.
	Org string
	// Secret makes Key an AWS access key ID whose requests must be signed
	// with SigV4 using this secret access key (Bedrock); without it a
	// Bedrock request carries Key as a bearer token (a Bedrock API key).
	Secret string
	// Region is the region a SigV4 signature must name; "" is us-east-1.
	Region string
}

// Limits are an organisation's per-minute limits. Zero in a field means that
// dimension is unlimited (and reported by no rate-limit headers).
//
// The Anthropic API enforces RPM, ITPM and OTPM. The OpenAI API enforces RPM
// and a single tokens-per-minute bucket charged with prompt and completion
// tokens: TPM if set, otherwise ITPM+OTPM. The requests bucket is shared by
// both APIs; the token buckets are not.
type Limits struct {
	// RPM is requests per minute.
	RPM int64
	// ITPM is input tokens per minute (Anthropic).
	ITPM int64
	// OTPM is output tokens per minute (Anthropic).
	OTPM int64
	// TPM is total tokens per minute (OpenAI); zero means ITPM+OTPM.
	TPM int64
	// Classes are limits of model classes (see Config.ModelClasses) that
	// have their own buckets, by class name; Classes inside a class's own
	// Limits are ignored. Nil: every model draws on the limits above.
	Classes map[string]Limits
}

// ParseKeys parses a key spec such as "key1=orgA,key2=orgA,key3=orgB". A
// bare key with no "=org" is its own organisation, named like the key. An
// AWS access key for Bedrock is id:secret[:region] (Key.Secret, Key.Region).
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, org, found := strings.Cut(item, "=")
		key, org = strings.TrimSpace(key), strings.TrimSpace(org)
		if key == "" {
			return nil, fmt.Errorf("key spec %q: empty key", item)
		}
		if !found {
			org = key
		} else if org == "" {
			return nil, fmt.Errorf("key spec %q: empty organisation", item)
		}
		k := Key{Key: key, Org: org}
		if id, rest, pair := strings.Cut(key, ":"); pair { // an AWS access key: id:secret[:region]
			k.Key = id
			k.Secret, k.Region, _ = strings.Cut(rest, ":")
			if id == "" || k.Secret == "" {
				return nil, fmt.Errorf("key spec %q: an AWS key is id:secret[:region]", item)
			}
			if !found {
				k.Org = id
			}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("key spec: no keys")
	}
	return keys, nil
}

// ParseLimits parses a limits spec such as
// "orgA=rpm:50/itpm:30000/otpm:8000,orgA:haiku=rpm:100/otpm:20000,orgB=rpm:5/tpm:40000".
// An entry "org=..." sets the organisation's default limits, "org:class=..."
// the limits of one model class of it (Limits.Classes). Fields are rpm,
// itpm, otpm and tpm; omitted fields are unlimited. An empty spec yields no
// limits.
func ParseLimits(spec string) (map[string]Limits, error) {
	out := make(map[string]Limits)
	seen := make(map[string]bool) // "org" or "org:class" entries already given
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, fields, found := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		org, class, isClass := strings.Cut(name, ":")
		org, class = strings.TrimSpace(org), strings.TrimSpace(class)
		if !found || org == "" || (isClass && class == "") {
			return nil, fmt.Errorf("limits spec %q: want org=field:value/field:value or org:class=field:value", item)
		}
		l, err := parseLimitFields(item, fields)
		if err != nil {
			return nil, err
		}
		id := org
		if isClass {
			id = org + ":" + class
		}
		if seen[id] {
			return nil, fmt.Errorf("limits spec: %q given twice", id)
		}
		seen[id] = true
		o := out[org]
		if !isClass {
			l.Classes = o.Classes
			out[org] = l
			continue
		}
		if o.Classes == nil {
			o.Classes = make(map[string]Limits)
		}
		o.Classes[class] = l
		out[org] = o
	}
	return out, nil
}

// parseLimitFields parses "rpm:50/itpm:30000" of the limits spec entry item.
func parseLimitFields(item, fields string) (Limits, error) {
	var l Limits
	for field := range strings.SplitSeq(fields, "/") {
		name, value, ok := strings.Cut(strings.TrimSpace(field), ":")
		if !ok {
			return Limits{}, fmt.Errorf("limits spec %q: field %q: want name:value", item, field)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return Limits{}, fmt.Errorf("limits spec %q: field %q: %w", item, field, err)
		}
		if n < 0 {
			return Limits{}, fmt.Errorf("limits spec %q: field %q: negative limit", item, field)
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "rpm":
			l.RPM = n
		case "itpm":
			l.ITPM = n
		case "otpm":
			l.OTPM = n
		case "tpm":
			l.TPM = n
		default:
			return Limits{}, fmt.Errorf("limits spec %q: unknown field %q (want rpm, itpm, otpm or tpm)", item, name)
		}
	}
	return l, nil
}
