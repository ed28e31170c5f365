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
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// TestSharedLimitsUnavailableDegradesPools kills the Redis that holds the
// shared limits: the KeyPools turn Degraded with reason
// SharedLimitsUnavailable and the gauge says so, without any request; when
// Redis is back both clear. Then it freezes Redis (SIGSTOP): the same.
func TestSharedLimitsUnavailableDegradesPools(t *testing.T) {
	srv := redistest.Start(t)
	shared, err := NewSharedLimits(SharedLimitsOptions{
		URL: srv.URL(), Timeout: 200 * time.Millisecond, Replicas: 2, ProbeInterval: 50 * time.Millisecond,
	}, publisher, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	publisher.UseSharedLimits(shared)
	t.Cleanup(func() {
		publisher.UseSharedLimits(nil)
		_ = shared.Close()
		sharedLimitsDegraded.Set(0)
	})

	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a"})
	createKeyPool(t, ns, "shared", simpleSpec("keys"))
	nn := types.NamespacedName{Namespace: ns, Name: "shared"}
	waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionFalse, llmv1alpha1.ReasonAsExpected)

	srv.Kill()
	waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionTrue, llmv1alpha1.ReasonSharedLimitsUnavailable)
	// Still served: only the limits went local.
	waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)
	if v := testutil.ToFloat64(sharedLimitsDegraded); v != 1 {
		t.Fatalf("keypool_shared_limits_degraded = %v during the outage, want 1", v)
	}

	srv.Restart()
	waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionFalse, llmv1alpha1.ReasonAsExpected)
	if v := testutil.ToFloat64(sharedLimitsDegraded); v != 0 {
		t.Fatalf("keypool_shared_limits_degraded = %v after Redis came back, want 0", v)
	}

	// A stall (SIGSTOP: connections open, no answer) is an outage too.
	srv.Stop()
	waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionTrue, llmv1alpha1.ReasonSharedLimitsUnavailable)
	srv.Cont()
	waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionFalse, llmv1alpha1.ReasonAsExpected)
}
