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
	"context"
	"net/url"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// keyCheckTimeout bounds a re-check of a key the provider called invalid;
// the key is out of use at most this long while it runs.
const keyCheckTimeout = 10 * time.Second

// checkKey re-checks a key the provider called invalid, off the request
// path, with the provider's cheap key check against the pool's upstream, and
// tells the pool the verdict. Only a check that fails the same way retires
// the key: a 401 about one request (a header, a path, a model) never does.
// A check that cannot judge (a transport error, a 5xx, a 429) returns the
// key to use.
func (s *Server) checkKey(pool *keypool.KeyPool, prov provider.Provider, upstream *url.URL, keyID, apiKey string) {
	ctx, cancel := context.WithTimeout(context.Background(), keyCheckTimeout)
	defer cancel()
	valid := true
	resp, err := s.keyTransport(prov, apiKey).RoundTrip(prov.KeyCheck(upstream).WithContext(ctx))
	if err == nil {
		valid = !prov.KeyInvalid(resp.StatusCode, bufferFailed(resp, keyID).body)
		s.log.Info("re-checked a key the provider called invalid", "key", keyID, "status", resp.StatusCode, "valid", valid)
	} else {
		s.log.Info("could not re-check a key the provider called invalid; keeping it", "key", keyID, "error", err.Error())
	}
	pool.Confirm(keyID, apiKey, valid)
}
