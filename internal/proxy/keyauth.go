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
	"net/http"
	"sync"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// maxKeyTransports bounds keyTransports. The keys in use are as many as the
// configuration names; only rotations add more, and at the bound the cache
// starts again empty rather than keep every value a key ever had.
const maxKeyTransports = 4096

// keyTransports holds, per provider and key value, the RoundTripper that
// sends a request authenticated with that key over the Server's transport
// (provider.Authenticate). It is made on a key value's first attempt and
// reused by every later one, so an attempt costs no allocation for its key,
// and a credential that keeps state (an OAuth token, a signer) keeps it
// across requests. It is keyed by the value rather than the key's ID: a key
// whose value changes in its Secret gets a new RoundTripper without any
// invalidation, and the pool never hands out the old value again.
type keyTransports struct {
	mu sync.RWMutex
	m  map[keyTransportID]http.RoundTripper
}

type keyTransportID struct{ provider, apiKey string }

// keyTransport returns the RoundTripper that sends with apiKey for prov.
func (s *Server) keyTransport(prov provider.Provider, apiKey string) http.RoundTripper {
	k := &s.keyRTs
	id := keyTransportID{prov.Name(), apiKey}
	k.mu.RLock()
	rt, ok := k.m[id]
	k.mu.RUnlock()
	if ok {
		return rt
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if rt, ok := k.m[id]; ok {
		return rt
	}
	if k.m == nil || len(k.m) >= maxKeyTransports {
		k.m = map[keyTransportID]http.RoundTripper{}
	}
	rt = prov.Authenticate(s.transport, apiKey)
	k.m[id] = rt
	return rt
}
