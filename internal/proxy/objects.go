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
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/objectid"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// maxSealedAnswer bounds an object answer the proxy reads whole to seal the
// IDs in it; object answers are a few KiB (a list is not sealed).
const maxSealedAnswer = 4 << 20

// objectCall is what the proxy knows of a request that touches provider
// objects (provider.ObjectTable): the key that holds the objects it names
// and whether its answer carries IDs to seal. Nil for a request that
// touches none.
type objectCall struct {
	table  *provider.ObjectTable
	sealer *objectid.Sealer
	scope  string // the pool's namespace/name: IDs are valid in one pool only
	client string
	// key is the ID of the key that holds the named objects; "" = any key.
	key  string
	seal bool // a served JSON answer's object IDs are sealed for client
	// streamIDs: a served event stream's IDs with this prefix are sealed
	// (a stored generation, streamed).
	streamIDs string
	// generate: a generation, charged like any when its answer reports no
	// usage.
	generate bool
	// clientBase is the pool's URL as the client reaches it, for answers
	// that carry an endpoint's URL.
	clientBase   string
	upstreamPath string // the upstream base URL's path, cut from such URLs
}

// objectRefusal is an answer the proxy gives by itself to an object request.
type objectRefusal struct {
	kind       provider.Error
	msg        string
	retryAfter time.Duration // > 0: sent as Retry-After
}

func (e *objectRefusal) write(w http.ResponseWriter, prov provider.Provider) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(e.retryAfter))
	}
	prov.WriteError(w, e.kind, e.msg)
}

// objects checks a request against its provider's object table before it
// goes anywhere: a path in neither the table nor the generation endpoints
// is refused (unless the pool passes its prefix through); object IDs in the
// path and body must open (sealed for this pool) and belong to the client,
// and are replaced in place by the provider's own; and the request is held
// to the key that holds them. Providers without a table are not checked.
func (s *Server) objects(r *http.Request, rt *route, body *requestBody, acc *keypool.Access,
	prov provider.Provider, pool *keypool.KeyPool, client string) (*objectCall, *objectRefusal) {
	table := provider.ObjectsOf(prov)
	if table == nil || passedThrough(acc.PassThroughPaths, rt.rest) {
		return nil, nil
	}
	var spanBuf [2]provider.IDSpan
	route, spans := table.Match(r.Method, rt.rest, spanBuf[:0])
	if route == nil {
		if table.IsGeneration(r.Method, rt.rest) {
			return nil, nil
		}
		return nil, &objectRefusal{kind: provider.ErrNotFound, msg: r.Method + " " + rt.rest + " is not proxied: " +
			"the pool serves generation endpoints and the object APIs it knows (files, batches, stored responses, caches); " +
			"spec.passThroughPaths may name a path prefix to forward as it is"}
	}
	if route.Action == provider.ObjectList {
		return nil, &objectRefusal{kind: provider.ErrBadRequest, msg: "listing is not offered through KeyPool " +
			rt.namespace + "/" + rt.name + ": the provider lists every client's objects of a key; " +
			"keep the IDs your requests returned and read each one"}
	}
	stored, streamed := storesAnswer(route, body.buf)
	if route.Action == provider.ObjectGenerate && !stored && !mentionsAny(body.buf, table.RequestIDs) {
		return nil, nil // a generation like any: nothing to open or seal
	}
	oc := &objectCall{table: table, sealer: s.opts.ObjectIDs, scope: rt.namespace + "/" + rt.name, client: client}
	if oc.sealer == nil && (route.Action != provider.ObjectGenerate || len(spans) > 0) {
		return nil, &objectRefusal{kind: provider.ErrUnavailable, msg: "object APIs are off: the proxy has no " +
			"object ID secret (the manager's --object-id-secret-file)"}
	}
	if refused := oc.openPath(rt, spans); refused != nil {
		return nil, refused
	}
	if refused := oc.openBody(body); refused != nil {
		return nil, refused
	}
	if oc.key != "" {
		if refused := keyHolding(pool, oc.key); refused != nil {
			return nil, refused
		}
	}
	if oc.sealer != nil && stored {
		oc.seal = !streamed
		if streamed {
			oc.streamIDs = route.StreamIDs
		}
	}
	oc.generate = route.Action == provider.ObjectGenerate
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	oc.clientBase = scheme + "://" + r.Host + "/pools/" + rt.namespace + "/" + rt.name
	oc.upstreamPath = strings.TrimSuffix(acc.Upstream.Path, "/")
	return oc, nil
}

// passedThrough reports whether path is under one of the pool's
// pass-through prefixes.
func passedThrough(prefixes []string, path string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// notFound is the answer to an ID that does not open, or is another
// client's: the provider's own 404, which says no more than that.
func notFound(id string) *objectRefusal {
	return &objectRefusal{kind: provider.ErrNotFound, msg: "object " + strconv.Quote(id) + " not found"}
}

// open returns the provider's ID of a sealed id of the client's, and
// agrees on the key that holds it.
func (oc *objectCall) open(id string) (string, *objectRefusal) {
	if oc.sealer == nil {
		return "", notFound(id)
	}
	ref, err := oc.sealer.Open(oc.scope, id)
	if err != nil || ref.Client != oc.client {
		return "", notFound(id)
	}
	switch oc.key {
	case "":
		oc.key = ref.Key
	case ref.Key:
	default:
		return "", &objectRefusal{kind: provider.ErrBadRequest,
			msg: "the request names objects held by different keys of the pool; they cannot be used together"}
	}
	return ref.ID, nil
}

// openPath replaces the sealed IDs at spans of rt.rest by the provider's.
func (oc *objectCall) openPath(rt *route, spans []provider.IDSpan) *objectRefusal {
	if len(spans) == 0 {
		return nil
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		raw, refused := oc.open(rt.rest[sp.Start:sp.End])
		if refused != nil {
			return refused
		}
		b.WriteString(rt.rest[last:sp.Start])
		b.WriteString(raw)
		last = sp.End
	}
	b.WriteString(rt.rest[last:])
	rt.rest, rt.rawRest = b.String(), ""
	return nil
}

// openBody replaces the sealed IDs in the body's ID fields
// (ObjectTable.RequestIDs) by the provider's. A body that names none of
// those fields is not parsed: that is almost every generation request.
func (oc *objectCall) openBody(body *requestBody) *objectRefusal {
	if !mentionsAny(body.buf, oc.table.RequestIDs) {
		return nil
	}
	values, ok := stringsUnder(body.buf, oc.table.RequestIDs)
	if !ok { // not JSON (a multipart upload): it names no object
		return nil
	}
	for _, v := range values {
		prefix, id := "", v
		if oc.table.NameValues {
			i := strings.LastIndexByte(v, '/')
			prefix, id = v[:i+1], v[i+1:]
			if !objectid.IsSealed(id) {
				continue // a public URI, not one of the API's files
			}
		}
		raw, refused := oc.open(id)
		if refused != nil {
			return refused
		}
		body.buf = bytes.ReplaceAll(body.buf, quoted(v), quoted(prefix+raw))
	}
	return nil
}

// keyHolding refuses a request whose objects' key cannot serve it now: a
// key gone from the pool, rejected, or cooling down (429 with the time it
// is back). Another key would only answer 404.
func keyHolding(pool *keypool.KeyPool, key string) *objectRefusal {
	for _, k := range pool.GetStats().Keys {
		if k.ID != key {
			continue
		}
		switch k.State {
		case keypool.StateRejected:
			return &objectRefusal{kind: provider.ErrUnavailable, msg: "the key that holds this object (" + key +
				") is rejected by the provider; the object is reachable again when the key's Secret is fixed"}
		case keypool.StateCoolingDown:
			return &objectRefusal{kind: provider.ErrRateLimited, retryAfter: max(time.Until(k.CooldownUntil), time.Second),
				msg: "the key that holds this object (" + key + ") is cooling down after a rate limit; retry after the Retry-After"}
		}
		return nil
	}
	return &objectRefusal{kind: provider.ErrNotFound, msg: "the key that held this object (" + key +
		") is no longer in the pool; the object is out of its reach"}
}

// storesAnswer reports whether route's answer carries object IDs: every
// object answer but content, and a generation that stores its answer
// (OpenAI's Responses unless "store": false, chat completions with
// "store": true); and whether the body asks for a streamed answer.
func storesAnswer(route *provider.ObjectRoute, body []byte) (stored, streamed bool) {
	if route.Action != provider.ObjectGenerate {
		return route.Action != provider.ObjectContent, false
	}
	if route.Store == provider.StoreNever {
		return false, false
	}
	if route.Store == provider.StoreIfTrue && !bytes.Contains(body, []byte(`"store"`)) {
		return false, false // not parsed: most chat completions say nothing of it
	}
	var flags struct {
		Store  *bool `json:"store"`
		Stream bool  `json:"stream"`
	}
	if json.Unmarshal(body, &flags) != nil {
		return false, false
	}
	if route.Store == provider.StoreIfTrue {
		return flags.Store != nil && *flags.Store, flags.Stream
	}
	return flags.Store == nil || *flags.Store, flags.Stream
}

// objectExclude is the Exclude list of a request held to one key: every
// other key of the pool.
func (x *exchange) objectExclude(exclude []string) []string {
	if x.obj == nil || x.obj.key == "" {
		return exclude
	}
	for _, id := range x.pool.Keys() {
		if id != x.obj.key {
			exclude = append(exclude, id)
		}
	}
	return exclude
}

// answer passes a served answer on: sealed when it carries object IDs,
// else as respond does.
func (x *exchange) answer(resp *http.Response, lease *keypool.Lease, attempt int) {
	if x.obj != nil && x.obj.streamIDs != "" && resp.StatusCode/100 == 2 && resp.Header.Get("Content-Encoding") == "" &&
		usage.FormatOf(resp.Header.Get("Content-Type")) == usage.FormatSSE {
		resp.Body = &streamSealer{r: resp.Body, oc: x.obj, key: lease.KeyID, open: []byte(`"` + x.obj.streamIDs)}
		resp.ContentLength = -1
	}
	if x.obj == nil || !x.obj.seal || resp.StatusCode/100 != 2 || resp.Header.Get("Content-Encoding") != "" ||
		usage.FormatOf(resp.Header.Get("Content-Type")) != usage.FormatJSON {
		x.respond(resp, lease, attempt)
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSealedAnswer+1))
	_ = resp.Body.Close()
	if err == nil && len(body) > maxSealedAnswer {
		err = errors.New("object answer larger than " + strconv.Itoa(maxSealedAnswer) + " bytes")
	}
	if err != nil {
		x.req.Failed(err)
		x.badGateway(lease.KeyID, attempt, err)
		return
	}
	x.letGoOfBody()
	out := x.obj.sealAnswer(body, lease.KeyID)
	h := x.w.Header()
	copyResponseHeader(h, resp.Header, x.prov)
	h.Set("Content-Length", strconv.Itoa(len(out)))
	h[HeaderKey] = x.s.keyIDValue(lease.KeyID)
	h[HeaderAttempts] = attemptsValue(attempt)
	x.scan.Reset(usage.FormatJSON, x.prov.Usage())
	_, _ = x.scan.Write(body)
	if x.genai != nil {
		x.genai.chunk(body)
	}
	t, charged := x.scan.Tokens(), x.scan.Tokens()
	if !x.scan.Found() && x.obj.generate {
		e := lease.Estimated()
		charged = usage.Tokens{Input: e.InputTokens, Output: e.OutputTokens}
	}
	x.w.WriteHeader(resp.StatusCode)
	_, werr := x.w.Write(out)
	x.end(lease.KeyID, resp.StatusCode, attempt, charged, t, werr)
}

// sealAnswer replaces the provider's object IDs in an answer by IDs sealed
// for the client and key, and points endpoint URLs at the proxy.
func (oc *objectCall) sealAnswer(body []byte, key string) []byte {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&doc) != nil {
		return body
	}
	sealed := make(map[string]string)
	for _, v := range answerStrings(doc, oc.table.AnswerIDs) {
		sealed[v] = oc.sealValue(v, key)
		body = bytes.ReplaceAll(body, quoted(v), quoted(sealed[v]))
	}
	for _, field := range oc.table.AnswerURLs {
		v, _ := doc[field].(string)
		u, err := url.Parse(v)
		if v == "" || err != nil {
			continue
		}
		segs := strings.Split(strings.TrimPrefix(u.Path, oc.upstreamPath), "/")
		for i, seg := range segs {
			if s, ok := sealed[seg]; ok {
				segs[i] = s
			}
		}
		body = bytes.ReplaceAll(body, quoted(v), quoted(oc.clientBase+strings.Join(segs, "/")))
	}
	return body
}

// sealValue is the sealed form of an answer's ID value v (for resource
// names, of its last segment).
func (oc *objectCall) sealValue(v, key string) string {
	prefix, id := "", v
	if oc.table.NameValues {
		i := strings.LastIndexByte(v, '/')
		prefix, id = v[:i+1], v[i+1:]
	}
	return prefix + oc.sealer.Seal(oc.scope, objectid.Ref{Key: key, Client: oc.client, ID: id})
}

// answerStrings are the string values at paths ("id", "file.id") of doc
// and of each element of its "data" array.
func answerStrings(doc map[string]any, paths []string) []string {
	var out []string
	docs := []map[string]any{doc}
	if data, ok := doc["data"].([]any); ok {
		for _, d := range data {
			if m, ok := d.(map[string]any); ok {
				docs = append(docs, m)
			}
		}
	}
	for _, d := range docs {
		for _, p := range paths {
			var v any = d
			for _, k := range strings.Split(p, ".") {
				m, _ := v.(map[string]any)
				v = m[k]
			}
			if s, ok := v.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// mentionsAny reports whether body holds any of fields as a JSON key.
func mentionsAny(body []byte, fields []string) bool {
	var buf [64]byte // every generation request asks: no allocation
	for _, f := range fields {
		key := append(append(append(buf[:0], '"'), f...), '"')
		if bytes.Contains(body, key) {
			return true
		}
	}
	return false
}

// quoted is s as a JSON string.
func quoted(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// stringsUnder returns every string value of body under one of fields, at
// any depth, directly or in an array; ok is false for a body that is not
// JSON. It reads the token stream, so a field given twice is seen twice.
func stringsUnder(body []byte, fields []string) (values []string, ok bool) {
	w := idWalker{fields: fields}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return w.values, len(w.stack) == 0
		}
		if err != nil {
			return nil, false
		}
		w.token(tok)
	}
}

// idWalker follows a JSON token stream, collecting the strings under its
// fields.
type idWalker struct {
	fields []string
	stack  []jsonFrame
	values []string
}

// jsonFrame is an object or array being read.
type jsonFrame struct {
	object   bool
	wantKey  bool
	field    string // the key whose value is being read
	inherits bool   // an array directly under an ID field
}

func (w *idWalker) isID(f string) bool {
	for _, x := range w.fields {
		if f == x {
			return true
		}
	}
	return false
}

func (w *idWalker) token(tok json.Token) {
	top := len(w.stack) - 1
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			w.stack = append(w.stack, jsonFrame{object: true, wantKey: true})
		case '[':
			inherit := top >= 0 && w.stack[top].object && w.isID(w.stack[top].field)
			w.stack = append(w.stack, jsonFrame{inherits: inherit})
		default:
			w.stack = w.stack[:top]
			w.valueDone()
		}
	case string:
		if top >= 0 && w.stack[top].object && w.stack[top].wantKey {
			w.stack[top].field, w.stack[top].wantKey = t, false
			return
		}
		if top >= 0 && (w.stack[top].object && w.isID(w.stack[top].field) || !w.stack[top].object && w.stack[top].inherits) {
			w.values = append(w.values, t)
		}
		w.valueDone()
	default:
		w.valueDone()
	}
}

// valueDone: a value ended; an object expects its next key.
func (w *idWalker) valueDone() {
	if n := len(w.stack); n > 0 && w.stack[n-1].object {
		w.stack[n-1].wantKey = true
	}
}

// streamSealer seals, in an event stream, every JSON string that starts
// with its prefix (a stored response's ID in each event that names it). A
// string cut by a read is held back until the next one completes it.
type streamSealer struct {
	r    io.ReadCloser
	oc   *objectCall
	key  string
	open []byte // `"` + the ID prefix
	in   []byte // read and not yet sealed: a string cut by the last read
	out  []byte // sealed and not yet returned
	err  error
}

// maxStreamID bounds how long a string may be to be taken for an ID: a
// longer one is passed on as it is.
const maxStreamID = 256

func (s *streamSealer) Read(p []byte) (int, error) {
	for len(s.out) == 0 && s.err == nil {
		var buf [4096]byte
		n, err := s.r.Read(buf[:])
		s.in = append(s.in, buf[:n]...)
		s.err = err
		s.seal(err != nil)
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	if len(s.out) == 0 && s.err != nil {
		return n, s.err
	}
	return n, nil
}

// seal moves what of in is complete to out, sealing IDs; at the end of the
// stream (last), everything goes.
func (s *streamSealer) seal(last bool) {
	for {
		i := bytes.Index(s.in, s.open)
		if i < 0 {
			keep := 0
			if !last { // the opening itself may be cut
				keep = min(len(s.in), len(s.open)-1)
			}
			s.out = append(s.out, s.in[:len(s.in)-keep]...)
			s.in = s.in[len(s.in)-keep:]
			return
		}
		s.out = append(s.out, s.in[:i]...)
		s.in = s.in[i:]
		end := bytes.IndexByte(s.in[1:], '"')
		switch {
		case end < 0 && !last && len(s.in) < maxStreamID:
			return // the rest of the string comes with the next read
		case end < 0 || end > maxStreamID:
			s.out = append(s.out, s.in[0])
			s.in = s.in[1:]
			continue
		}
		id := string(s.in[1 : 1+end])
		if len(id) == len(s.open)-1 || (len(s.out) > 0 && s.out[len(s.out)-1] == '\\') {
			// Only a prefix, or a quote escaped inside another string.
			s.out = append(s.out, s.in[0])
			s.in = s.in[1:]
			continue
		}
		s.out = append(s.out, quoted(s.oc.sealValue(id, s.key))...)
		s.in = s.in[end+2:]
	}
}

func (s *streamSealer) Close() error { return s.r.Close() }
