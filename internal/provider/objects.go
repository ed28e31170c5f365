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
	"fmt"
	"net/http"
	"strings"
)

// ObjectAction is what a request does with a provider object (a file, a
// batch, a stored response, a cache).
type ObjectAction uint8

const (
	// ObjectCreate makes an object; the answer carries its ID.
	ObjectCreate ObjectAction = iota + 1
	// ObjectRead answers with one object.
	ObjectRead
	// ObjectList answers with the objects of the key's organisation.
	ObjectList
	// ObjectUpdate changes one object and answers with it.
	ObjectUpdate
	// ObjectCancel stops one object's work (a batch) and answers with it.
	ObjectCancel
	// ObjectDelete removes one object.
	ObjectDelete
	// ObjectContent answers with an object's bytes or results, passed on
	// as they are.
	ObjectContent
	// ObjectGenerate is a generation that may name objects in its body
	// (a file_id, a previous_response_id) and, as Store says, store its
	// answer as an object.
	ObjectGenerate
)

// fileIDField names a file in the bodies of Anthropic's and OpenAI's APIs.
const fileIDField = "file_id"

// StoreRule says when a generation stores its answer as an object.
type StoreRule uint8

const (
	// StoreNever: the answer is not kept.
	StoreNever StoreRule = iota
	// StoreUnlessFalse: kept unless the body says "store": false (OpenAI's
	// Responses API).
	StoreUnlessFalse
	// StoreIfTrue: kept only when the body says "store": true (OpenAI's
	// chat completions).
	StoreIfTrue
)

// ObjectRoute is one endpoint of an API's object table.
type ObjectRoute struct {
	Method string
	// Path is matched segment by segment: "{id}" is an object's ID (with
	// a literal suffix such as Gemini's "{id}:cancel" if the API has one),
	// "*" any one segment (again with an optional suffix:
	// "*:generateContent"); everything else literally.
	Path   string
	Action ObjectAction
	// Store: for ObjectGenerate, when the answer is stored (its "id" is
	// then an object's).
	Store StoreRule
	// StreamIDs is the prefix of the stored object's ID in a streamed
	// answer ("resp_"): every JSON string that starts with it is the ID.
	StreamIDs string

	segs []string // Path's segments, split once by NewObjectTable
}

// ObjectTable is what the proxy needs to know of an API's objects: which
// endpoints make, read, list, change or remove them, where an answer
// carries their IDs and where a later request names them. A path that is
// neither in Routes nor a generation endpoint (Generation) is refused.
type ObjectTable struct {
	Routes []ObjectRoute
	// Generation are the endpoints that generate or describe and keep
	// nothing (messages, embeddings, models): served on any key, as
	// before. Paths are matched as Routes' are, and a trailing "/**"
	// matches any rest.
	Generation []ObjectRoute
	// AnswerIDs are where an object answer carries object IDs: dotted
	// paths from its top level ("id", "file.id"); a list's "data" array
	// is walked element by element.
	AnswerIDs []string
	// AnswerURLs are answer fields holding the URL of an object's endpoint
	// (Anthropic's results_url): they are pointed at the proxy.
	AnswerURLs []string
	// RequestIDs are the body fields, at any depth, whose string values
	// (or arrays of them) name objects: file_id, previous_response_id,
	// input_file_id, cachedContent.
	RequestIDs []string
	// NameValues: an ID value is a resource name or URL ("files/abc",
	// ".../v1beta/files/abc") whose last segment is the object's ID
	// (Google's APIs).
	NameValues bool
}

// ObjectTables is implemented by the providers whose APIs have objects.
type ObjectTables interface {
	Objects() *ObjectTable
}

// ObjectsOf returns p's object table, or nil for a provider without one,
// whose paths are all forwarded as they are.
func ObjectsOf(p Provider) *ObjectTable {
	if t, ok := p.(ObjectTables); ok {
		return t.Objects()
	}
	return nil
}

// routeTable parses a route table written one route a line: a method ("*" for
// any), a path (see ObjectRoute.Path) and, for Routes, an action (create,
// read, list, update, cancel, delete, content, generate) and an optional
// store rule (store-unless-false, store-if-true) and the prefix of the
// IDs in its streamed answers (stream-ids=resp_). It panics on a malformed
// line: the tables are written in this package and parsed at its
// initialisation.
func routeTable(table string) []ObjectRoute {
	var out []ObjectRoute
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		r := ObjectRoute{Method: f[0], Path: f[1]}
		if r.Method == "*" {
			r.Method = ""
		}
		for _, word := range f[2:] {
			if prefix, ok := strings.CutPrefix(word, "stream-ids="); ok {
				r.StreamIDs = prefix
				continue
			}
			a, isAction := objectActions[word]
			st, isStore := storeRules[word]
			switch {
			case isAction:
				r.Action = a
			case isStore:
				r.Store = st
			default:
				panic(fmt.Sprintf("object route %q: unknown word %q", line, word))
			}
		}
		out = append(out, r)
	}
	return out
}

var objectActions = map[string]ObjectAction{
	"create": ObjectCreate, "read": ObjectRead, "list": ObjectList, "update": ObjectUpdate,
	"cancel": ObjectCancel, "delete": ObjectDelete, "content": ObjectContent, "generate": ObjectGenerate,
}

var storeRules = map[string]StoreRule{"store-unless-false": StoreUnlessFalse, "store-if-true": StoreIfTrue}

// NewObjectTable prepares t's paths for matching; the tables are built
// once, at package initialisation.
func NewObjectTable(t ObjectTable) *ObjectTable {
	for _, rs := range [][]ObjectRoute{t.Routes, t.Generation} {
		for i := range rs {
			rs[i].segs = strings.Split(strings.TrimPrefix(rs[i].Path, "/"), "/")
		}
	}
	return &t
}

// IDSpan is where an object's ID sits in a request path.
type IDSpan struct{ Start, End int }

// Match returns the route of method and path, with the spans of path that
// hold object IDs (appended to ids, which may be nil), or nil when path is
// no object endpoint.
func (t *ObjectTable) Match(method, path string, ids []IDSpan) (*ObjectRoute, []IDSpan) {
	for i := range t.Routes {
		r := &t.Routes[i]
		if r.Method != method {
			continue
		}
		if spans, ok := matchSegs(r.segs, path, ids); ok {
			return r, spans
		}
	}
	return nil, ids
}

// IsGeneration reports whether method and path are an endpoint that keeps
// nothing.
func (t *ObjectTable) IsGeneration(method, path string) bool {
	for i := range t.Generation {
		r := &t.Generation[i]
		if r.Method != "" && r.Method != method && (r.Method != http.MethodGet || method != http.MethodHead) {
			continue
		}
		if _, ok := matchSegs(r.segs, path, nil); ok {
			return true
		}
	}
	return false
}

// matchSegs matches path (starting with "/") against a route's segments,
// recording the spans of its ID segments.
func matchSegs(segs []string, path string, ids []IDSpan) ([]IDSpan, bool) {
	n := len(ids)
	rest, off := path[1:], 1
	for i, pat := range segs {
		if pat == "**" && i == len(segs)-1 {
			return ids, true
		}
		seg, after, more := strings.Cut(rest, "/")
		if (i == len(segs)-1) == more { // the path is longer or shorter
			return ids[:n], false
		}
		switch {
		case strings.HasPrefix(pat, "*"):
			if len(seg) <= len(pat)-1 || !strings.HasSuffix(seg, pat[1:]) {
				return ids[:n], false
			}
		case strings.HasPrefix(pat, "{id}"):
			suffix := pat[len("{id}"):]
			id, ok := strings.CutSuffix(seg, suffix)
			if !ok || id == "" {
				return ids[:n], false
			}
			ids = append(ids, IDSpan{off, off + len(id)})
		case pat != seg:
			return ids[:n], false
		}
		rest, off = after, off+len(seg)+1
	}
	return ids, true
}
