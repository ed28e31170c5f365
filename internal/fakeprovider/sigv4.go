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
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigV4Skew is how far a signature's time may be from the provider's clock,
// as AWS allows.
const sigV4Skew = 5 * time.Minute

// The messages AWS answers a refused credential with.
const (
	msgUnrecognized = "The security token included in the request is invalid."
	msgBadSignature = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgSkewed = "Signature expired: the request time is outside the allowed window of the server's time."
)

// verifySigV4 checks r's SigV4 signature as AWS does: it signs the same
// request (the headers the signature names, the body, the time and scope
// it claims) again with the AWS SDK's signer and the key's secret, and
// compares. It returns the access key ID, or "" and AWS's message. r's body
// is read and put back.
func (p *Provider) verifySigV4(r *http.Request) (key, refusal string) {
	auth := r.Header.Get("Authorization")
	cred, signed, ok := parseSigV4(auth)
	if !ok {
		return "", msgUnrecognized
	}
	scope := strings.Split(cred, "/") // key id, date, region, service, aws4_request
	secret, known := p.secrets[scope[0]]
	if len(scope) != 5 || !known {
		return "", msgUnrecognized
	}
	region := p.regions[scope[0]]
	if scope[2] != region || scope[3] != "bedrock" || scope[4] != "aws4_request" {
		return "", msgBadSignature
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || at.Format("20060102") != scope[1] {
		return "", msgBadSignature
	}
	if d := p.clock.Now().Sub(at); d > sigV4Skew || d < -sigV4Skew {
		return "", msgSkewed
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return "", msgBadSignature
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	again := &http.Request{Method: r.Method, URL: cloneURL(r), Host: r.Host, Header: http.Header{},
		ContentLength: int64(len(body))}
	for _, h := range strings.Split(signed, ";") {
		if c := http.CanonicalHeaderKey(h); h != "host" && h != "content-length" {
			again.Header[c] = r.Header.Values(c)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, again, hex.EncodeToString(sum[:]), "bedrock", region, at); err != nil ||
		again.Header.Get("Authorization") != auth {
		return "", msgBadSignature
	}
	return scope[0], ""
}

// parseSigV4 splits "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=...".
func parseSigV4(auth string) (cred, signed string, ok bool) {
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", "", false
	}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		}
	}
	return cred, signed, cred != "" && signed != ""
}

// cloneURL is r's URL as the client addressed it (host included).
func cloneURL(r *http.Request) *url.URL {
	u := *r.URL
	u.Host = r.Host
	u.Scheme = "http"
	return &u
}
