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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// vertexScope is the OAuth scope Vertex AI accepts.
const vertexScope = "https://www.googleapis.com/auth/cloud-platform"

// vertexKey is what the pool reads of a service-account key (the JSON
// Google issues; golang.org/x/oauth2/google reads the rest): the project
// the credential's quota is in, and an optional region, a field the pool
// adds, for the location its requests run in.
type vertexKey struct {
	Type      string `json:"type"`
	ProjectID string `json:"project_id"`
	Region    string `json:"region"`
}

// vertexTokenTimeout bounds one access-token request.
const vertexTokenTimeout = 30 * time.Second

// vertexRefused is the message of the answer to a request whose credential
// got no access token: the token endpoint refused the key, or the entry is
// not a service-account key. It names no part of the entry.
const vertexRefused = "The pool entry's service account got no access token"

// vertexAuth sends requests with one service account's OAuth access token,
// from one token source per credential (golang.org/x/oauth2's JWT flow
// against the key's token_uri, cached and renewed before it expires). A
// request whose token the upstream refuses anyway (revoked early, a clock
// ahead of ours) is sent once more with a new token, so a token that ends
// before its time fails no request. The path's project and location become
// the credential's, and an official host the credential's region's.
type vertexAuth struct {
	base   http.RoundTripper
	key    vertexKey
	newSrc func() oauth2.TokenSource // nil: the entry is not a usable key
	mu     sync.Mutex
	src    oauth2.TokenSource
}

func newVertexAuth(base http.RoundTripper, value string) *vertexAuth {
	a := &vertexAuth{base: base}
	data := []byte(strings.TrimSpace(value))
	cfg, err := google.JWTConfigFromJSON(data, vertexScope)
	if err != nil || json.Unmarshal(data, &a.key) != nil || a.key.ProjectID == "" ||
		(a.key.Region != "" && !validRegion(a.key.Region)) {
		return a
	}
	client := &http.Client{Transport: base, Timeout: vertexTokenTimeout}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	a.newSrc = func() oauth2.TokenSource { return cfg.TokenSource(ctx) }
	a.src = a.newSrc()
	return a
}

// RoundTrip implements http.RoundTripper; it changes r in place, as
// HeaderAuth does.
func (a *vertexAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	if a.newSrc == nil {
		closeBody(r)
		return vertexRefusal(r), nil
	}
	a.route(r)
	tok, src, err := a.token()
	if err != nil {
		closeBody(r)
		return a.tokenFailed(r, err)
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header["Authorization"] = []string{"Bearer " + tok.AccessToken}
	resp, err := a.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (r.Body != nil && r.GetBody == nil) {
		return resp, err
	}
	// The token was refused: renew it (unless another request did) and
	// send once more.
	body := r.Body
	if r.GetBody != nil {
		if body, err = r.GetBody(); err != nil {
			return resp, nil //nolint:nilerr // the refusal stands as the answer
		}
	}
	_ = resp.Body.Close()
	a.renew(src)
	if tok, _, err = a.token(); err != nil {
		closeBody(&http.Request{Body: body})
		return a.tokenFailed(r, err)
	}
	retry := r.Clone(r.Context())
	retry.Body = body
	retry.Header["Authorization"] = []string{"Bearer " + tok.AccessToken}
	return a.base.RoundTrip(retry)
}

// token returns a valid token and the source it came from.
func (a *vertexAuth) token() (*oauth2.Token, oauth2.TokenSource, error) {
	a.mu.Lock()
	src := a.src
	a.mu.Unlock()
	tok, err := src.Token()
	return tok, src, err
}

// renew starts a new token source in place of used, so the next token is
// fetched afresh; a source another request renewed already is kept.
func (a *vertexAuth) renew(used oauth2.TokenSource) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.src == used {
		a.src = a.newSrc()
	}
}

// tokenFailed answers a request whose token could not be had: the key's
// refusal (the token endpoint answered 4xx: a deleted key, a disabled
// account) as the upstream's 401, so the pool re-checks and retires it;
// anything else (the endpoint unreachable or failing) as a transport
// error, which blames no key. Neither carries the endpoint's answer.
func (*vertexAuth) tokenFailed(r *http.Request, err error) (*http.Response, error) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		if c := re.Response.StatusCode; c >= 400 && c < 500 {
			return vertexRefusal(r), nil
		}
		return nil, fmt.Errorf("vertex: the token endpoint answered %d", re.Response.StatusCode)
	}
	return nil, fmt.Errorf("vertex: fetching an access token: %w", err)
}

// vertexRefusal is Google's 401 for a credential that has no token.
func vertexRefusal(r *http.Request) *http.Response {
	body, _ := json.Marshal(googleError{Error: googleStatus{
		Code: http.StatusUnauthorized, Message: vertexRefused, Status: googleUnauthenticated}})
	return localAnswer(r, http.StatusUnauthorized, nil, body)
}

// CloseIdleConnections closes base's idle connections.
func (a *vertexAuth) CloseIdleConnections() { closeIdle(a.base) }

// route puts the credential's project and location into a
// /{version}/projects/{p}/locations/{l}/... path, and sends a request for
// an official host to the location's endpoint. The location is the
// credential's region, else the upstream's (a regional host), else the
// client's.
func (a *vertexAuth) route(r *http.Request) {
	official, hostRegion := splitVertexHost(r.URL.Host)
	region := a.key.Region
	if region == "" && hostRegion != "" {
		region = hostRegion
	}
	var client string
	r.URL.Path, client = rewriteVertexPath(r.URL.Path, a.key.ProjectID, region)
	if r.URL.RawPath != "" {
		r.URL.RawPath, _ = rewriteVertexPath(r.URL.RawPath, a.key.ProjectID, region)
	}
	if region == "" {
		region = client
	}
	if official && validRegion(region) {
		h := vertexHost(region)
		r.URL.Host, r.Host = h, h
	}
}

// vertexHost is the official host of region: the global endpoint for
// "global", else the region's own.
func vertexHost(region string) string {
	if region == "global" {
		return "aiplatform.googleapis.com"
	}
	return region + "-aiplatform.googleapis.com"
}

// splitVertexHost reports whether host is Vertex AI's, and the region of a
// regional one ({region}-aiplatform.googleapis.com).
func splitVertexHost(host string) (official bool, region string) {
	if host == "aiplatform.googleapis.com" {
		return true, ""
	}
	r, ok := strings.CutSuffix(host, "-aiplatform.googleapis.com")
	if !ok || !validRegion(r) {
		return false, ""
	}
	return true, r
}

// rewriteVertexPath replaces the project of /{version}/projects/{p}/... and,
// when region is set, the location of .../locations/{l}/...; client is the
// location the path named. Other paths stay as they are.
func rewriteVertexPath(p, project, region string) (out, client string) {
	seg := strings.SplitN(p, "/", 7) // "", version, "projects", p, "locations", l, rest
	if len(seg) < 4 || seg[2] != "projects" {
		return p, ""
	}
	seg[3] = project
	if len(seg) >= 6 && seg[4] == "locations" {
		client = seg[5]
		if region != "" {
			seg[5] = region
		}
	}
	return strings.Join(seg, "/"), client
}
