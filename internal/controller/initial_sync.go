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

package controller

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
)

// initialSync tells when every KeyPool that existed when the manager started
// has been reconciled once, so that a restarted replica does not take proxy
// traffic while it would still answer 404 for pools it has not built yet.
type initialSync struct {
	reconciled sync.Map // types.NamespacedName -> struct{}
	done       atomic.Bool
}

func (s *initialSync) markReconciled(nn types.NamespacedName) {
	if !s.done.Load() {
		s.reconciled.Store(nn, struct{}{})
	}
}

// check returns nil once every KeyPool the cache lists has been reconciled.
// After that it stays nil: pools created later do not make a serving
// replica unready.
func (s *initialSync) check(ctx context.Context, c client.Reader) error {
	if s.done.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var pools llmv1alpha1.KeyPoolList
	if err := c.List(ctx, &pools); err != nil {
		return fmt.Errorf("listing keypools: %w", err)
	}
	for i := range pools.Items {
		nn := client.ObjectKeyFromObject(&pools.Items[i])
		if _, ok := s.reconciled.Load(nn); !ok {
			return fmt.Errorf("keypool %s not built yet", nn)
		}
	}
	s.done.Store(true)
	s.reconciled.Clear()
	return nil
}

// Ready is a readiness check (a controller-runtime healthz.Checker): it
// fails until every KeyPool present at start has been built into a pool.
func (r *KeyPoolReconciler) Ready(req *http.Request) error {
	return r.sync.check(req.Context(), r.Client)
}
