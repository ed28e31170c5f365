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

import "github.com/keypool-dev/keypool-operator/internal/provider"

// affinityKey is the request's prompt-cache affinity key (see
// provider.AffinityKey), computed only for a pool that routes by it: a
// second, lighter read of the body than the token estimate's, which a pool
// without affinity does not pay for. Only model-calling requests carry
// prompts; the key of anything else is 0.
func (x *exchange) affinityKey() uint64 {
	if !x.pool.AffinityEnabled() || len(x.body.buf) == 0 {
		return 0
	}
	return provider.AffinityKey(x.body.buf)
}
