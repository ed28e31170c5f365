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
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// TestModelClassesReachThePoolAndTheStatus: spec.modelClasses become the
// pool's declared classes (two models of one class share its limit), and
// status.keys[].classes shows each class the key served; remainingRPM
// counts the busiest class.
func TestModelClassesReachThePoolAndTheStatus(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a"})
	spec := simpleSpec("keys")
	spec.ModelClasses = []llmv1alpha1.ModelClass{{Name: "sonnet", Models: []string{"claude-sonnet-4*"}, RPMLimit: 2}}
	createKeyPool(t, ns, "classes", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "classes"}
	pool := waitPool(t, nn, "keys/a")

	ctx := context.Background()
	for _, m := range []string{"claude-sonnet-4-5", "claude-sonnet-4-0", "claude-haiku-4-5"} {
		l, err := pool.Acquire(ctx, keypool.AcquireOptions{Model: m})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		pool.Settle(&l, keypool.Usage{InputTokens: 1})
	}
	var ee *keypool.ExhaustedError
	if _, err := pool.Acquire(ctx, keypool.AcquireOptions{Model: "claude-sonnet-4-6"}); !errors.As(err, &ee) {
		t.Fatalf("a third sonnet request: %v, want exhausted (the class's rpmLimit is 2)", err)
	}
	eventually(t, 10*time.Second, func() error {
		kp, err := getKeyPool(nn)
		if err != nil {
			return err
		}
		if len(kp.Status.Keys) != 1 {
			return fmt.Errorf("status keys %+v", kp.Status.Keys)
		}
		got := map[string]int64{}
		for _, c := range kp.Status.Keys[0].Classes {
			if c.RPMRemaining != nil {
				got[c.Name] = *c.RPMRemaining
			}
		}
		if len(kp.Status.Keys[0].Classes) != 2 || got["sonnet"] != 0 || got["claude-haiku-4-5"] < 58 {
			return fmt.Errorf("classes %+v, want sonnet with 0 left and claude-haiku-4-5 with the key's 60", kp.Status.Keys[0].Classes)
		}
		if kp.Status.TotalRPM != 2 || kp.Status.RemainingRPM != 0 {
			return fmt.Errorf("totalRPM/remainingRPM = %d/%d, want 2/0 (the busiest class)", kp.Status.TotalRPM, kp.Status.RemainingRPM)
		}
		return nil
	})
}
