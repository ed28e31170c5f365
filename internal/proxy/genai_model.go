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

// genaiModelCap is how many distinct gen_ai.request.model values one pool
// records; later ones read modelOther. The model is the client's to name,
// and every value is a series of each GenAI histogram: without a cap one
// client could fill the OpenTelemetry SDK's series limit, after which the
// SDK folds every new series, other pools' too, into an overflow series.
const genaiModelCap = 32

// modelOther stands for every model of a pool past its genaiModelCap.
const modelOther = "other"

// maxModelLen bounds one model value; a longer one is no model name.
const maxModelLen = 128

// poolRef names a pool.
type poolRef struct{ namespace, name string }

// modelSets holds each pool's distinct model values, up to genaiModelCap.
type modelSets struct {
	pools sync.Map // poolRef -> *modelSet
}

type modelSet struct {
	mu   sync.RWMutex
	seen map[string]struct{}
}

// bound returns model if the pool has recorded it or has room for it,
// else modelOther.
func (m *modelSets) bound(pool poolRef, model string) string {
	if model == "" {
		return ""
	}
	if len(model) > maxModelLen {
		return modelOther
	}
	v, ok := m.pools.Load(pool)
	if !ok {
		v, _ = m.pools.LoadOrStore(pool, &modelSet{seen: make(map[string]struct{}, 4)})
	}
	s := v.(*modelSet)
	s.mu.RLock()
	_, known := s.seen[model]
	s.mu.RUnlock()
	if known {
		return model
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known = s.seen[model]; known || len(s.seen) < genaiModelCap {
		s.seen[model] = struct{}{}
		return model
	}
	return modelOther
}

// forget drops a deleted pool's values.
func (m *modelSets) forget(pool poolRef) { m.pools.Delete(pool) }
