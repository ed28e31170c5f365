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

package objectid

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Marker follows the provider's own prefix in a sealed ID ("file_" +
// Marker + ...), so that a sealed ID is told from a provider's at a glance.
const Marker = "kp1"

// MinSecretBytes is the shortest secret New accepts.
const MinSecretBytes = 32

// nonceSize and tagSize are AES-GCM's; the nonce is synthetic (see Seal).
const (
	nonceSize = 12
	tagSize   = 16
)

// ErrInvalid: the ID is not one this installation sealed for this scope, or
// it was altered.
var ErrInvalid = errors.New("object id is not valid here")

// Ref is what a sealed ID says about an object.
type Ref struct {
	// Key is the ID of the pool key that holds the object (never its value).
	Key string
	// Client is the name of the client that created it.
	Client string
	// ID is the provider's own ID of the object.
	ID string
}

// Sealer seals and opens object IDs with one installation secret. It is
// safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
	mac  []byte // key of the synthetic nonce
}

// New returns a Sealer keyed by secret (at least MinSecretBytes). Two
// Sealers with the same secret open each other's IDs: that is how replicas
// and restarts agree.
func New(secret []byte) (*Sealer, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("object id secret has %d bytes, want at least %d", len(secret), MinSecretBytes)
	}
	block, err := aes.NewCipher(derive(secret, "keypool object id encryption"))
	if err != nil {
		return nil, fmt.Errorf("object id cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("object id cipher: %w", err)
	}
	return &Sealer{aead: aead, mac: derive(secret, "keypool object id nonce")}, nil
}

// derive is an independent 32-byte key for one purpose.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Seal returns the ID a client sees for ref, valid only in scope (the
// pool's namespace/name: an ID of one pool means nothing in another). The
// same ref and scope always seal to the same ID (the nonce is an HMAC of
// both), so a client that reads or lists an object sees the ID its create
// returned. The provider's prefix of ref.ID ("file_", "batch_", "resp_")
// is kept in front.
func (s *Sealer) Seal(scope string, ref Ref) string {
	plain := make([]byte, 0, 3*binary.MaxVarintLen16+len(ref.Key)+len(ref.Client)+len(ref.ID))
	plain = appendField(plain, ref.Key)
	plain = appendField(plain, ref.Client)
	plain = append(plain, ref.ID...)
	nonce := s.nonce(scope, plain)
	sealed := s.aead.Seal(nonce, nonce, plain, []byte(scope))
	return prefixOf(ref.ID) + Marker + base64.RawURLEncoding.EncodeToString(sealed)
}

// Open returns what a sealed ID says, or ErrInvalid when id was not sealed
// by this installation's secret for scope, or was changed in any byte.
func (s *Sealer) Open(scope, id string) (Ref, error) {
	prefix, rest, ok := split(id)
	if !ok {
		return Ref{}, ErrInvalid
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(sealed) < nonceSize+tagSize {
		return Ref{}, ErrInvalid
	}
	nonce := sealed[:nonceSize]
	plain, err := s.aead.Open(nil, nonce, sealed[nonceSize:], []byte(scope))
	if err != nil || !hmac.Equal(nonce, s.nonce(scope, plain)) {
		return Ref{}, ErrInvalid
	}
	var ref Ref
	if ref.Key, plain, ok = readField(plain); !ok {
		return Ref{}, ErrInvalid
	}
	if ref.Client, plain, ok = readField(plain); !ok {
		return Ref{}, ErrInvalid
	}
	ref.ID = string(plain)
	if prefixOf(ref.ID) != prefix {
		return Ref{}, ErrInvalid
	}
	return ref, nil
}

// IsSealed reports whether id looks like a sealed ID (it may still not
// open).
func IsSealed(id string) bool {
	_, _, ok := split(id)
	return ok
}

// split parts a sealed ID into the provider's prefix and the sealed bytes
// in base64. An ID sealed without a prefix starts with the Marker (its
// base64 may hold a '_' or '-' that prefixOf would take for one).
func split(id string) (prefix, rest string, ok bool) {
	if rest, ok = strings.CutPrefix(id, Marker); ok {
		return "", rest, true
	}
	prefix = prefixOf(id)
	rest, ok = strings.CutPrefix(id[len(prefix):], Marker)
	return prefix, rest, ok && prefix != ""
}

// nonce is the synthetic nonce of plain in scope: deterministic, and checked
// again on Open, so that equal refs seal alike and nothing else opens.
func (s *Sealer) nonce(scope string, plain []byte) []byte {
	m := hmac.New(sha256.New, s.mac)
	m.Write(appendField(nil, scope))
	m.Write(plain)
	return m.Sum(nil)[:nonceSize]
}

// prefixOf is the provider's type prefix of id: up to and including its
// first '_' or '-' among the first 16 bytes ("file_", "file-", "batch_",
// "msgbatch_", "resp_"), or "" (Gemini's "files/abc" has none: its
// collection is a path segment the proxy keeps apart).
func prefixOf(id string) string {
	for i := 0; i < len(id) && i < 16; i++ {
		switch c := id[i]; {
		case c == '_' || c == '-':
			return id[:i+1]
		case (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9'):
			return ""
		}
	}
	return ""
}

// appendField appends s with its length in front.
func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// readField reads a field appendField wrote.
func readField(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}
