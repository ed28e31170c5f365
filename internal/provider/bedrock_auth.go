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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BedrockCredential is one Bedrock pool entry, the JSON of one Secret data
// entry: an AWS access key pair (with a session token for temporary
// credentials) or a Bedrock API key, and the region it calls. A data entry
// that is not a JSON object is a Bedrock API key of the upstream's region.
type BedrockCredential struct {
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	SessionToken    string `json:"sessionToken,omitempty"`
	APIKey          string `json:"apiKey,omitempty"`
	// Region is where the credential's quota is; "" is the upstream's.
	Region string `json:"region,omitempty"`
}

// parseBedrockCredential reads a data entry; ok is false for one that is
// neither a key pair nor an API key, or names an impossible region.
func parseBedrockCredential(v string) (c BedrockCredential, ok bool) {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "{") {
		return BedrockCredential{APIKey: v}, v != ""
	}
	if json.Unmarshal([]byte(v), &c) != nil {
		return c, false
	}
	pair := c.AccessKeyID != "" && c.SecretAccessKey != ""
	if pair == (c.APIKey != "") || (c.Region != "" && !validRegion(c.Region)) {
		return c, false
	}
	return c, true
}

// bedrockService is the SigV4 signing name of both the runtime and the
// control plane.
const bedrockService = "bedrock"

// bedrockBadCredential is the message of the answer to a request whose pool
// entry is not a usable credential; it names no part of the entry.
const bedrockBadCredential = "The pool entry is not a Bedrock credential"

// bedrockAuth sends requests with one Bedrock credential: signed with SigV4
// by the AWS SDK's signer, or with a Bedrock API key as a bearer token. A
// request to an official Bedrock host goes to the credential's region (the
// runtime or, for the model and profile listings, the control plane).
type bedrockAuth struct {
	base   http.RoundTripper
	cred   BedrockCredential
	usable bool
	keys   aws.Credentials
	signer *v4.Signer
	bearer []string
}

func newBedrockAuth(base http.RoundTripper, value string) *bedrockAuth {
	c, ok := parseBedrockCredential(value)
	a := &bedrockAuth{base: base, cred: c, usable: ok, signer: v4.NewSigner()}
	if c.APIKey != "" {
		a.bearer = []string{"Bearer " + c.APIKey}
	} else {
		a.keys = aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	}
	return a
}

// RoundTrip implements http.RoundTripper. Like HeaderAuth it changes r in
// place: the proxy makes every upstream request for one send.
func (a *bedrockAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	if !a.usable {
		closeBody(r)
		return localAnswer(r, http.StatusForbidden, http.Header{headerErrorType: {"UnrecognizedClientException"}},
			[]byte(`{"message":"`+bedrockBadCredential+`"}`)), nil
	}
	region := a.region(r.URL.Host)
	if h, ok := bedrockHost(r.URL.Host, region, r.URL.Path); ok {
		r.URL.Host, r.Host = h, h
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	if a.bearer != nil {
		r.Header["Authorization"] = a.bearer
		return a.answer(a.base.RoundTrip(r))
	}
	hash, err := hashBody(r)
	if err != nil {
		return nil, fmt.Errorf("bedrock: reading the request body to sign it: %w", err)
	}
	if err := a.signer.SignHTTP(r.Context(), a.keys, r, hash, bedrockService, region, time.Now()); err != nil {
		return nil, fmt.Errorf("bedrock: signing the request: %w", err)
	}
	return a.answer(a.base.RoundTrip(r))
}

// answer passes on the upstream's answer, except that a
// ServiceQuotaExceededException (a 400 for a quota the credential has spent)
// becomes the 429 it means, so the pool cools the credential and tries
// another; its type header still tells the client what it was.
func (a *bedrockAuth) answer(resp *http.Response, err error) (*http.Response, error) {
	if err == nil && resp.StatusCode == http.StatusBadRequest &&
		strings.HasPrefix(Header(resp.Header, headerErrorType), "ServiceQuotaExceededException") {
		resp.StatusCode, resp.Status = http.StatusTooManyRequests, "429 Too Many Requests"
	}
	return resp, err
}

// CloseIdleConnections closes base's idle connections.
func (a *bedrockAuth) CloseIdleConnections() { closeIdle(a.base) }

// defaultBedrockRegion signs for a credential without a region sent to a
// host that names none (a gateway, the fake provider).
const defaultBedrockRegion = "us-east-1"

// region is the credential's region, else the official host's, else the
// default.
func (a *bedrockAuth) region(host string) string {
	if a.cred.Region != "" {
		return a.cred.Region
	}
	if r, ok := splitBedrockHost(host); ok {
		return r
	}
	return defaultBedrockRegion
}

// splitBedrockHost returns the region of an official host,
// bedrock-runtime.{region}.amazonaws.com or bedrock.{region}.amazonaws.com.
func splitBedrockHost(host string) (region string, ok bool) {
	rest, ok := strings.CutSuffix(host, ".amazonaws.com")
	if !ok {
		return "", false
	}
	service, region, ok := strings.Cut(rest, ".")
	if !ok || (service != "bedrock-runtime" && service != bedrockService) || !validRegion(region) {
		return "", false
	}
	return region, true
}

// bedrockHost is the official host for path in region: the control plane
// for the listings, else the runtime. ok is false for a host that is not an
// official one, which stays as the KeyPool named it.
func bedrockHost(host, region, path string) (string, bool) {
	if _, ok := splitBedrockHost(host); !ok {
		return "", false
	}
	service := "bedrock-runtime"
	if !strings.HasPrefix(path, bedrockModelRoot) {
		service = bedrockService
	}
	return service + "." + region + ".amazonaws.com", true
}

// hashBody returns the hex SHA-256 of r's body, which SigV4 signs, and
// leaves r with a body that sends the same bytes (and can send them again).
func hashBody(r *http.Request) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		sum := sha256.Sum256(nil)
		return hex.EncodeToString(sum[:]), nil
	}
	b, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return "", err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	r.ContentLength = int64(len(b))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
