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

import "sync"

// keyIDValues holds each key ID as a header value, made once: the
// X-Keypool-Key of every answer then costs no allocation. Key IDs are
// names (secret/dataKey) from the KeyPools, so the set is as small as the
// configuration; the server only reads the values.
type keyIDValues struct {
	mu sync.RWMutex
	m  map[string][]string
}

func (s *Server) keyIDValue(id string) []string {
	k := &s.keyIDs
	k.mu.RLock()
	v, ok := k.m[id]
	k.mu.RUnlock()
	if ok {
		return v
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if v, ok := k.m[id]; ok {
		return v
	}
	if k.m == nil {
		k.m = map[string][]string{}
	}
	v = []string{id}
	k.m[id] = v
	return v
}
