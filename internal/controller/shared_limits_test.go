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
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
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

// TestCorruptValueLeavesOtherPoolsShared sets one KeyPool's limiter in
// Redis to garbage while both KeyPools take requests: the broken pool keeps
// serving (its limiter from local limits), the call errors are counted, and
// the other KeyPool's Degraded condition never changes (its transition time
// stays), nor does the replica's degraded gauge.
func TestCorruptValueLeavesOtherPoolsShared(t *testing.T) {
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
	spec := simpleSpec("keys")
	spec.Keys[0].RPMLimit = 1_000_000
	createKeyPool(t, ns, "broken", spec)
	createKeyPool(t, ns, "healthy", spec)
	broken, healthy := types.NamespacedName{Namespace: ns, Name: "broken"}, types.NamespacedName{Namespace: ns, Name: "healthy"}
	waitCondition(t, broken, llmv1alpha1.ConditionDegraded, metav1.ConditionFalse, llmv1alpha1.ReasonAsExpected)
	before := meta.FindStatusCondition(
		waitCondition(t, healthy, llmv1alpha1.ConditionDegraded, metav1.ConditionFalse, llmv1alpha1.ReasonAsExpected).Status.Conditions,
		llmv1alpha1.ConditionDegraded).LastTransitionTime

	// The limiters each pool gets from the shared limits (the suite's
	// reconciler builds its pools without them).
	ctx := context.Background()
	limiter := func(nn types.NamespacedName) ratelimit.Limiter {
		l, err := shared.factory(nn)("key/keys/a", time.Now(), ratelimit.Amounts{ratelimit.Requests: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	brokenLim, healthyLim := limiter(broken), limiter(healthy)
	acquire := func(l ratelimit.Limiter) bool {
		t.Helper()
		r, ok := l.Reserve(time.Now(), 0, ratelimit.LearnedOutput)
		if !ok {
			t.Fatal("reservation refused with a limit of a million")
		}
		l.Settle(time.Now(), r, ratelimit.Usage{})
		return r.Remote
	}
	if !acquire(brokenLim) || !acquire(healthyLim) {
		t.Fatal("not in Redis before the corruption")
	}
	keys, err := srv.Client().Keys(ctx, "keypool:{"+ns+"/broken/*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the broken pool's limiter keys: %v %v", keys, err)
	}
	if err := srv.Client().Set(ctx, keys[0], "garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	errorsBefore := testutil.ToFloat64(sharedLimitsCallErrors)
	// Several probe intervals and status intervals of traffic on both.
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		acquire(brokenLim)
		if !acquire(healthyLim) {
			t.Fatal("the healthy pool's limiter left Redis")
		}
	}
	if n := testutil.ToFloat64(sharedLimitsCallErrors) - errorsBefore; n < 2 {
		t.Fatalf("keypool_shared_limits_call_errors_total rose by %v, want the broken limiter's retries counted", n)
	}
	if v := testutil.ToFloat64(sharedLimitsDegraded); v != 0 || shared.Degraded() {
		t.Fatalf("keypool_shared_limits_degraded = %v: one pool's corrupt value degraded the replica", v)
	}
	// A status pass after the traffic shows no transition.
	publisher.refreshAll()
	kp := waitCondition(t, healthy, llmv1alpha1.ConditionDegraded, metav1.ConditionFalse, llmv1alpha1.ReasonAsExpected)
	if after := meta.FindStatusCondition(kp.Status.Conditions, llmv1alpha1.ConditionDegraded).LastTransitionTime; !after.Equal(&before) {
		t.Fatalf("the healthy pool's Degraded condition changed at %v (was %v)", after, before)
	}
}
