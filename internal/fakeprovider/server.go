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

// Package fakeprovider is a fake upstream LLM provider for tests, benchmarks
// and simulations. It speaks the Anthropic Messages API (POST /v1/messages),
// the OpenAI Chat Completions API (POST /v1/chat/completions), Azure
// OpenAI's dialect of it (/openai/deployments/{d}/chat/completions and
// /openai/v1/chat/completions) and the Gemini API
// (/v1beta/models/{model}:generateContent and :streamGenerateContent)
// closely enough that a proxy in front of it, and the official SDKs, are
// tested honestly: per-organisation and per-model-class
// token buckets for requests, input and output tokens, the providers' real
// rate-limit headers, error shapes and SSE event sequences, and switchable
// faults controlled from Go or over HTTP under /_fake/.
package fakeprovider

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
)

// maxBody bounds request bodies; real APIs reject larger ones with 413.
const maxBody = 32 << 20

// Provider is the fake provider. It is an http.Handler, safe for concurrent
// use; build it with New.
type Provider struct {
	clock        clock.Clock
	cacheTTL     time.Duration // prompt cache lifetime; <= 0: no caching
	outputTokens int64
	chunkTokens  int64
	// keys is fixed at New, so the hot path reads it without a lock.
	keys map[string]*keyState
	// secrets and regions are the AWS access keys' secrets and regions
	// (sigv4.go), fixed at New.
	secrets, regions map[string]string
	// google holds the service accounts and their access tokens (oauth.go).
	google googleAuth
	// classes maps a request's model to its class (classes.go).
	classes classifier
	// admitOnMaxTokens: not Config.OutputAfterTheFact, switchable at run
	// time (reserve.go).
	admitOnMaxTokens atomic.Bool

	faults faults
	holdMu sync.Mutex
	hold   atomic.Pointer[gate]
	held   atomic.Int64
	// handshakes counts TLS handshakes (tls.go).
	handshakes atomic.Int64

	// objects are the organisations' files, batches and responses
	// (objects.go).
	objects objectStore

	unauthenticated atomic.Int64
	modelChecks     atomic.Int64
	idPrefix        string
	seq             atomic.Uint64
}

// keyState is one configured key.
type keyState struct {
	org   *org
	state atomic.Int32 // keyOK, keyRevoked or keyForbidden
	stats counters
}

// New builds a provider from cfg.
func New(cfg Config) *Provider {
	p := &Provider{
		clock:        clock.Or(cfg.Clock),
		outputTokens: cfg.OutputTokens,
		chunkTokens:  cfg.StreamChunkTokens,
		cacheTTL:     cfg.PromptCacheTTL,
		keys:         make(map[string]*keyState, len(cfg.Keys)),
		classes:      newClassifier(cfg.ModelClasses),
		secrets:      map[string]string{},
		regions:      map[string]string{},
	}
	p.admitOnMaxTokens.Store(!cfg.OutputAfterTheFact)
	if p.outputTokens <= 0 {
		p.outputTokens = DefaultOutputTokens
	}
	if p.chunkTokens <= 0 {
		p.chunkTokens = DefaultStreamChunkTokens
	}
	if p.cacheTTL == 0 {
		p.cacheTTL = DefaultPromptCacheTTL
	}
	// A random prefix keeps ids unique across provider processes, as a proxy
	// may log or deduplicate by them.
	var salt [4]byte
	_, _ = rand.Read(salt[:])
	p.idPrefix = hex.EncodeToString(salt[:])

	now := p.clock.Now()
	orgs := make(map[string]*org)
	for _, k := range cfg.Keys {
		if _, dup := p.keys[k.Key]; dup {
			continue
		}
		o := orgs[k.Org]
		if o == nil {
			o = newOrg(k.Org, cfg.Limits[k.Org], now, &cfg)
			orgs[k.Org] = o
		}
		p.keys[k.Key] = &keyState{org: o}
		if k.Secret != "" {
			p.secrets[k.Key], p.regions[k.Key] = k.Secret, cmp.Or(k.Region, "us-east-1")
		}
	}
	return p
}

// ServeHTTP routes the provider APIs and the /_fake/ admin endpoints.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.Path; {
	case isObjectPath(path):
		p.serveObjects(w, r)
	case path == "/v1/messages":
		p.serveAPI(w, r, anthropicAPI{})
	case path == "/v1/chat/completions":
		p.serveAPI(w, r, openaiAPI{})
	case path == "/v1/models":
		var a api = openaiAPI{}
		if r.Header.Get("X-Api-Key") != "" || r.Header.Get("Anthropic-Version") != "" {
			a = anthropicAPI{}
		}
		p.serveModels(w, r, a)
	case strings.HasPrefix(path, "/openai/"):
		p.serveAzure(w, r)
	case strings.HasPrefix(path, "/v1beta/") || strings.HasPrefix(path, "/v1/models/"):
		p.serveGemini(w, r)
	case strings.HasPrefix(path, "/model/"):
		p.serveBedrock(w, r)
	case path == "/foundation-models" || path == "/inference-profiles":
		p.serveBedrockList(w, r)
	case path == googleTokenPath:
		p.serveToken(w, r)
	case strings.HasPrefix(path, "/v1/projects/") || strings.HasPrefix(path, "/v1beta1/"):
		p.serveVertex(w, r)
	case strings.HasPrefix(path, "/_fake/"):
		p.serveAdmin(w, r)
	default:
		c := &call{p: p, w: w, reqID: p.newID("req_")}
		anthropicAPI{}.writeError(c, http.StatusNotFound, errNotFound, "Not found: "+path)
	}
}

// serveAzure routes Azure OpenAI's paths: a deployment's (or the v1 API's)
// chat completions and the model list; anything else is Azure's 404.
func (p *Provider) serveAzure(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/openai/models" && r.URL.Query().Get("api-version") != "" {
		p.serveModels(w, r, azureAPI{})
		return
	}
	a, ok := azureRoute(r)
	if !ok {
		p.serveAzureNotFound(w)
		return
	}
	p.serveAPI(w, r, a)
}

// serveGemini routes the Gemini API's paths: a model's generateContent and
// streamGenerateContent and the model list; anything else is Google's 404.
func (p *Provider) serveGemini(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1beta/models" {
		p.serveModels(w, r, geminiAPI{})
		return
	}
	g, ok := geminiRoute(r)
	if !ok {
		c := &call{p: p, w: w, reqID: p.newID("req_")}
		geminiAPI{}.writeError(c, http.StatusNotFound, errNotFound, "Method not found.")
		return
	}
	p.serveAPI(w, r, g)
}

// errClass is an error category; each API maps it to its own type names.
type errClass int

const (
	errInvalid errClass = iota
	errAuth
	errPermission
	errNotFound
	errTooLarge
	errRateLimit       // requests dimension, or an injected 429
	errRateLimitTokens // a token dimension
	errAPI
	errOverloaded
	errMismatchedOrg // OpenAI-Organization names another organisation than the key's
)

// RestrictedModelPrefix starts model names that no key may use: the API
// answers 403 permission_error for that request only, as it does for a model
// or feature outside a key's access.
const RestrictedModelPrefix = "restricted-"

// classForStatus maps an injected status to the error a provider would send.
func classForStatus(status int) errClass {
	switch {
	case status == http.StatusUnauthorized:
		return errAuth
	case status == http.StatusForbidden:
		return errPermission
	case status == http.StatusNotFound:
		return errNotFound
	case status == http.StatusRequestEntityTooLarge:
		return errTooLarge
	case status == http.StatusTooManyRequests:
		return errRateLimit
	case status == 529:
		return errOverloaded
	case status >= 500:
		return errAPI
	}
	return errInvalid
}

// request is what the provider needs from a parsed API request.
type request struct {
	model        string
	stream       bool
	includeUsage bool  // OpenAI stream_options.include_usage
	input        int64 // estimated input tokens
	maxTokens    int64 // 0 = no cap
	directive    int64 // [[output_tokens=N]], or -1
	// limitModel is what the provider limits on when it is not model: the
	// deployment of an Azure deployment path.
	limitModel string

	// cache is where the prompt may hit the cache; nil = nowhere.
	cache *cachePlan
	// cacheReadsFree: cache reads do not count against the input limit
	// (Anthropic's cache-aware ITPM); OpenAI counts the whole prompt.
	cacheReadsFree bool
}

// api is one provider dialect: how it authenticates, parses, limits and
// answers. The flow around it (auth, faults, limits, stats) is shared.
type api interface {
	apiKey(r *http.Request) string
	parse(body []byte) (request, error)
	admission(input int64) admission
	metaHeaders(h http.Header, reqID, org string)
	rateHeaders(h http.Header, snap *snapshot)
	limitError(c *call, short dim) (errClass, string)
	writeError(c *call, status int, class errClass, msg string)
	respond(c *call)
	stream(c *call, s *sseWriter) error
}

// call is one API request in flight.
type call struct {
	p        *Provider
	w        http.ResponseWriter
	r        *http.Request
	ks       *keyState
	bk       *buckets // the bucket set of the request's model class
	reqID    string
	req      request
	fault    Fault // FaultResetMidStream or FaultSlowStream, else zero
	snap     snapshot
	output   int64 // planned output tokens
	cut      bool  // output cut short by max_tokens
	produced int64 // output tokens actually generated so far
	reserved int64 // output reserved at admission, settled at the end
	status   int   // final status for stats; 0 = never completed
	cache    cacheUse
}

func (p *Provider) serveAPI(w http.ResponseWriter, r *http.Request, a api) {
	c := &call{p: p, w: w, r: r, reqID: p.newID("req_")}
	h := w.Header()
	if r.Method != http.MethodPost {
		a.metaHeaders(h, c.reqID, "")
		a.writeError(c, http.StatusMethodNotAllowed, errInvalid, "Method Not Allowed")
		return
	}
	key := a.apiKey(r)
	ks := p.keys[key]
	if ks == nil {
		p.unauthenticated.Add(1)
		a.metaHeaders(h, c.reqID, "")
		a.writeError(c, http.StatusUnauthorized, errAuth, "invalid api key")
		return
	}
	c.ks = ks
	ks.stats.requests.Add(1)
	defer func() {
		// Runs on panic(http.ErrAbortHandler) too, so aborted streams are
		// charged for what they produced and counted as errors.
		c.settleOutput(a)
		ks.stats.record(c.status)
	}()
	a.metaHeaders(h, c.reqID, ks.org.name)

	switch ks.state.Load() {
	case keyRevoked:
		a.writeError(c, http.StatusUnauthorized, errAuth, "invalid api key: this key has been revoked")
		return
	case keyForbidden:
		a.writeError(c, http.StatusForbidden, errPermission, "Your API key does not have permission to use the specified resource.")
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		// Otherwise the client went away mid-body: status stays 0, an error.
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			a.writeError(c, http.StatusRequestEntityTooLarge, errTooLarge, "Request exceeds the maximum allowed number of bytes.")
		}
		return
	}
	if c.req, err = a.parse(body); err != nil {
		a.writeError(c, http.StatusBadRequest, errInvalid, err.Error())
		return
	}
	c.bk = ks.org.bucketsFor(p.clock.Now(), p.classes.classOf(cmp.Or(c.req.limitModel, c.req.model)))
	if strings.HasPrefix(c.req.model, RestrictedModelPrefix) {
		a.writeError(c, http.StatusForbidden, errPermission, "Your API key does not have permission to use the specified resource.")
		return
	}
	if org := r.Header.Get("Openai-Organization"); org != "" && org != ks.org.name {
		// OpenAI's answer to an SDK configured with another organisation.
		a.writeError(c, http.StatusUnauthorized, errMismatchedOrg, "OpenAI-Organization header should match organization for API key")
		return
	}

	if f, ok := p.takeFault(key, c.req.stream); ok {
		if done := p.applyFault(c, a, f); done {
			return
		}
	}

	now := p.clock.Now()
	charged := c.req.input
	if p.cacheTTL > 0 && c.req.cache != nil {
		c.cache = ks.org.cache.lookup(now, c.req.cache)
		if c.req.cacheReadsFree {
			charged = max(charged-c.cache.read, 1)
		}
	}
	adm := a.admission(charged)
	adm.reserve = p.outputReserve(a, &c.req)
	ok, retry, short := c.bk.admit(now, adm, &c.snap)
	a.rateHeaders(h, &c.snap)
	if !ok {
		h.Set("Retry-After", retryAfter(retry))
		class, msg := a.limitError(c, short)
		a.writeError(c, http.StatusTooManyRequests, class, msg)
		return
	}
	c.reserved = adm.reserve
	ks.org.cache.commit(now, &c.cache, p.cacheTTL)
	ks.stats.input.Add(charged)
	ks.stats.cacheRead.Add(c.cache.read)
	ks.stats.cacheCreation.Add(c.cache.created)
	c.output, c.cut = outputPlan(p.outputTokens, c.req.directive, c.req.maxTokens)

	if !c.req.stream {
		a.respond(c)
		return
	}
	s := newSSEWriter(c, a)
	if err := a.stream(c, s); err == nil {
		c.status = http.StatusOK
	}
}

// settleOutput charges the output produced to the request's buckets and
// stats; an output reservation is replaced by it, a refund when less was
// produced.
func (c *call) settleOutput(a api) {
	if c.produced == 0 && c.reserved == 0 {
		return
	}
	c.bk.charge(c.p.clock.Now(), a.admission(0).outDim, c.produced-c.reserved)
	c.ks.stats.output.Add(c.produced)
}

// applyFault acts on an injected fault; it reports whether the request is
// finished. Faults that shape the response body are left on c.
func (p *Provider) applyFault(c *call, a api, f Fault) (done bool) {
	switch f.Kind {
	case FaultStatus:
		a.writeError(c, f.Status, classForStatus(f.Status), "injected fault: "+http.StatusText(f.Status))
		return true
	case FaultRateLimit:
		c.bk.peek(p.clock.Now(), &c.snap)
		a.rateHeaders(c.w.Header(), &c.snap)
		if f.RetryAfter > 0 {
			c.w.Header().Set("Retry-After", retryAfter(f.RetryAfter))
		}
		a.writeError(c, http.StatusTooManyRequests, errRateLimit, "injected fault: rate limited")
		return true
	case FaultReset:
		resetConn(c.w)
		return true
	case FaultSlowHeaders:
		return sleep(c.r.Context(), f.Delay) != nil
	}
	c.fault = f
	return false
}

// newID returns a unique id such as "req_1a2b3c4d5f".
func (p *Provider) newID(prefix string) string {
	b := make([]byte, 0, len(prefix)+len(p.idPrefix)+13)
	b = append(b, prefix...)
	b = append(b, p.idPrefix...)
	b = strconv.AppendUint(b, p.seq.Add(1), 36)
	return string(b)
}

// retryAfter formats a wait as whole seconds, rounded up so a client that
// waits exactly that long finds the capacity there.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(int64((d+time.Second-1)/time.Second), 1), 10)
}

// headerNames are one dimension's limit, remaining and reset header names,
// canonicalised once: Header.Set would canonicalise (and allocate) on every
// call, and rate-limit headers are a dozen per response.
type headerNames struct{ limit, remaining, reset string }

func newHeaderNames(limit, remaining, reset string) headerNames {
	return headerNames{http.CanonicalHeaderKey(limit), http.CanonicalHeaderKey(remaining), http.CanonicalHeaderKey(reset)}
}

// Strings both APIs' shapes use.
const (
	blockText            = "text"                  // a text content block (Anthropic, Converse)
	methodStreamGenerate = "streamGenerateContent" // Gemini's stream (also on Vertex AI)
	errorType            = "error"
	invalidRequestError  = "invalid_request_error"
	roleAssistant        = "assistant"
)

// setHeader sets a header whose name is already canonical.
func setHeader(h http.Header, canonical, value string) { h[canonical] = []string{value} }
