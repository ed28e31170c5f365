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
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// googleTokenPath is the fake's OAuth 2.0 token endpoint, Google's
// https://oauth2.googleapis.com/token: a service account trades a JWT signed
// with its private key for an access token (RFC 7523).
const googleTokenPath = "/token"

// DefaultAccessTokenTTL is how long an access token lives, as Google's do.
const DefaultAccessTokenTTL = time.Hour

// googleAuth holds the service accounts (by email; each is also a Key of
// the provider's Config) and the access tokens issued to them.
type googleAuth struct {
	mu       sync.Mutex
	accounts map[string]serviceAccount
	tokens   map[string]accessToken
	grants   atomic.Int64
}

type serviceAccount struct {
	pub     *rsa.PublicKey
	project string
}

type accessToken struct {
	email   string
	expires time.Time
}

// ServiceAccountKey makes a service account email of project, whose key
// JSON (as Google issues it) it returns: the private key signs its token
// requests to tokenURL, which the provider verifies with the public key.
// email must be one of the Config's Keys for its requests to be served.
func (p *Provider) ServiceAccountKey(email, project, tokenURL string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate service account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode service account key: %w", err)
	}
	g := &p.google
	g.mu.Lock()
	if g.accounts == nil {
		g.accounts, g.tokens = map[string]serviceAccount{}, map[string]accessToken{}
	}
	g.accounts[email] = serviceAccount{pub: &key.PublicKey, project: project}
	g.mu.Unlock()
	return json.Marshal(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": p.newID("kid"),
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": p.newID(""), "token_uri": tokenURL,
	})
}

// TokenGrants counts the access tokens issued.
func (p *Provider) TokenGrants() int64 { return p.google.grants.Load() }

// ExpireAccessTokens ends every access token issued so far now, before the
// expiry it was issued with, as a revocation or a clock ahead does.
func (p *Provider) ExpireAccessTokens() {
	g := &p.google
	g.mu.Lock()
	defer g.mu.Unlock()
	for t, at := range g.tokens {
		at.expires = time.Time{}
		g.tokens[t] = at
	}
}

// jwtClaims are the assertion's claims the endpoint checks.
type jwtClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Exp   int64  `json:"exp"`
}

// serveToken answers the JWT-bearer grant: a valid, unexpired assertion
// signed by a known, unrevoked service account gets an access token;
// anything else 400 invalid_grant, as Google answers.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil ||
		r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		tokenError(w, "unsupported_grant_type", "Invalid grant_type.")
		return
	}
	email, ok := p.verifyAssertion(r.PostForm.Get("assertion"))
	if !ok {
		tokenError(w, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	g := &p.google
	tok := "ya29.fake-" + p.newID("")
	g.mu.Lock()
	g.tokens[tok] = accessToken{email: email, expires: p.clock.Now().Add(DefaultAccessTokenTTL)}
	g.mu.Unlock()
	g.grants.Add(1)
	body := `{"access_token":"` + tok + `","expires_in":` + strconv.Itoa(int(DefaultAccessTokenTTL/time.Second)) +
		`,"token_type":"Bearer"}`
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

// verifyAssertion checks an RS256 JWT's signature against its issuer's
// public key and its expiry; it returns the issuer.
func (p *Provider) verifyAssertion(jwt string) (string, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	var c jwtClaims
	if err1 != nil || err2 != nil || json.Unmarshal(raw, &c) != nil {
		return "", false
	}
	g := &p.google
	g.mu.Lock()
	sa, known := g.accounts[c.Iss]
	g.mu.Unlock()
	if !known || c.Exp < p.clock.Now().Unix() {
		return "", false
	}
	if ks := p.keys[c.Iss]; ks == nil || ks.state.Load() == keyRevoked {
		return "", false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(sa.pub, crypto.SHA256, sum[:], sig) != nil {
		return "", false
	}
	return c.Iss, true
}

func tokenError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	_, _ = w.Write(body)
}

// tokenOwner returns the service account of an unexpired access token and
// its project.
func (p *Provider) tokenOwner(tok string) (email, project string, ok bool) {
	g := &p.google
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.tokens[tok]
	if !ok || !at.expires.After(p.clock.Now()) {
		return "", "", false
	}
	return at.email, g.accounts[at.email].project, true
}
