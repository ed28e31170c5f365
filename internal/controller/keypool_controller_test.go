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
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

var nsCounter atomic.Int32

// newNamespace gives each test its own namespace, so tests cannot see each
// other's Secrets, pools or Events.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("test-%d", nsCounter.Add(1))}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// createSecret creates a Secret labeled for secretType (a SecretTypeLabel
// value; "" for no label).
func createSecret(t *testing.T, ns, name, secretType string, data map[string]string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	if secretType != "" {
		s.Labels = map[string]string{llmv1alpha1.SecretTypeLabel: secretType}
	}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func createKeyPool(t *testing.T, ns, name string, spec llmv1alpha1.KeyPoolSpec) *llmv1alpha1.KeyPool {
	t.Helper()
	kp := &llmv1alpha1.KeyPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if err := k8s.Create(context.Background(), kp); err != nil {
		t.Fatal(err)
	}
	return kp
}

func simpleSpec(secrets ...string) llmv1alpha1.KeyPoolSpec {
	spec := llmv1alpha1.KeyPoolSpec{ClientAuth: llmv1alpha1.ClientAuth{AllowUnauthenticated: true}}
	for _, s := range secrets {
		spec.Keys = append(spec.Keys, llmv1alpha1.KeySource{SecretRef: llmv1alpha1.SecretKeysReference{Name: s}, RPMLimit: 60})
	}
	return spec
}

// eventually waits for state the manager's asynchronous loops produce.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	testenv.Eventually(t, timeout, 20*time.Millisecond, cond)
}

func getKeyPool(nn types.NamespacedName) (*llmv1alpha1.KeyPool, error) {
	var kp llmv1alpha1.KeyPool
	err := apiClient.Get(context.Background(), nn, &kp)
	return &kp, err
}

// waitCondition waits until the KeyPool's condition has the status and reason.
func waitCondition(t *testing.T, nn types.NamespacedName, condType string, status metav1.ConditionStatus, reason string) *llmv1alpha1.KeyPool {
	t.Helper()
	var kp *llmv1alpha1.KeyPool
	eventually(t, 10*time.Second, func() error {
		var err error
		if kp, err = getKeyPool(nn); err != nil {
			return err
		}
		c := meta.FindStatusCondition(kp.Status.Conditions, condType)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("condition %s = %+v, want %s/%s", condType, c, status, reason)
		}
		return nil
	})
	return kp
}

func waitPool(t *testing.T, nn types.NamespacedName, wantKeys ...string) *keypool.KeyPool {
	t.Helper()
	var pool *keypool.KeyPool
	eventually(t, 10*time.Second, func() error {
		p, ok := registry.Get(nn.Namespace, nn.Name)
		if !ok {
			return fmt.Errorf("no pool for %s", nn)
		}
		if got := strings.Join(p.Keys(), ","); got != strings.Join(wantKeys, ",") {
			return fmt.Errorf("pool keys = %s, want %s", got, strings.Join(wantKeys, ","))
		}
		pool = p
		return nil
	})
	return pool
}

func keyState(pool *keypool.KeyPool, id string) keypool.State {
	for _, k := range pool.GetStats().Keys {
		if k.ID == id {
			return k.State
		}
	}
	return ""
}

func TestKeyPoolBecomesReadyWithEndpointAndStats(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a", "b": "sk-b\n"})
	createKeyPool(t, ns, "claude", simpleSpec("keys"))
	nn := types.NamespacedName{Namespace: ns, Name: "claude"}

	pool := waitPool(t, nn, "keys/a", "keys/b")
	if _, apiKey, err := pool.GetKey(context.Background()); err != nil || (apiKey != "sk-a" && apiKey != "sk-b") {
		t.Fatalf("GetKey = %q, %v; want a key value without the trailing newline", apiKey, err)
	}
	kp := waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)
	waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionFalse, llmv1alpha1.ReasonAsExpected)
	if want := "http://keypool-proxy.keypool-system.svc:8080/pools/" + ns + "/claude"; kp.Status.Endpoint != want {
		t.Errorf("endpoint = %q, want %q", kp.Status.Endpoint, want)
	}
	// No spec.upstream: the provider's default, which `kubectl get kp -o
	// wide` shows.
	if kp.Status.Upstream != "https://api.anthropic.com" {
		t.Errorf("status.upstream = %q, want the anthropic default", kp.Status.Upstream)
	}
	if kp.Status.ObservedGeneration != kp.Generation {
		t.Errorf("observedGeneration = %d, want %d", kp.Status.ObservedGeneration, kp.Generation)
	}
	if kp.Status.TotalKeys != 2 || kp.Status.AvailableKeys != 2 || kp.Status.ExhaustedKeys != 0 {
		t.Errorf("keys total/available/exhausted = %d/%d/%d, want 2/2/0",
			kp.Status.TotalKeys, kp.Status.AvailableKeys, kp.Status.ExhaustedKeys)
	}
	if kp.Status.TotalRPM != 120 {
		t.Errorf("totalRPM = %d, want 120", kp.Status.TotalRPM)
	}
	if len(kp.Status.Keys) != 2 || kp.Status.Keys[0].Name != "keys/a" || kp.Status.Keys[0].State != "Available" {
		t.Errorf("status keys = %+v", kp.Status.Keys)
	}
}

func TestMissingSecretThenReady(t *testing.T) {
	ns := newNamespace(t)
	createKeyPool(t, ns, "p", simpleSpec("late"))
	nn := types.NamespacedName{Namespace: ns, Name: "p"}

	kp := waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionFalse, llmv1alpha1.ReasonSecretNotFound)
	waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionTrue, llmv1alpha1.ReasonSecretNotFound)
	if _, ok := registry.Get(ns, "p"); ok {
		t.Fatal("a pool without keys is served")
	}
	waitEvent(t, kp, "SecretNotFound")

	createSecret(t, ns, "late", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"k": "sk-late"})
	waitPool(t, nn, "late/k")
	waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)
	waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionFalse, llmv1alpha1.ReasonAsExpected)
}

func TestMissingDataKeyIsReported(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a"})
	spec := simpleSpec("keys")
	spec.Keys = append(spec.Keys, llmv1alpha1.KeySource{SecretRef: llmv1alpha1.SecretKeysReference{Name: "keys", Key: "nope"}})
	createKeyPool(t, ns, "p", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "p"}

	waitPool(t, nn, "keys/a")
	kp := waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionTrue, llmv1alpha1.ReasonKeyNotFound)
	if c := meta.FindStatusCondition(kp.Status.Conditions, llmv1alpha1.ConditionDegraded); !strings.Contains(c.Message, `"nope"`) {
		t.Errorf("Degraded message does not name the entry: %q", c.Message)
	}
	waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)
}

func TestSecretRotationKeepsLearnedStateOfUnchangedKeys(t *testing.T) {
	ns := newNamespace(t)
	secret := createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a", "b": "sk-b", "c": "sk-c"})
	createKeyPool(t, ns, "p", simpleSpec("keys"))
	nn := types.NamespacedName{Namespace: ns, Name: "p"}
	pool := waitPool(t, nn, "keys/a", "keys/b", "keys/c")

	// The pool learns something about a and b: both cool down.
	until := time.Now().Add(time.Hour)
	for _, id := range []string{"keys/a", "keys/b"} {
		if err := pool.MarkKeyExhausted(id, until); err != nil {
			t.Fatal(err)
		}
	}

	// Rotate b, remove c, add d.
	secret.StringData = nil
	secret.Data = map[string][]byte{"a": []byte("sk-a"), "b": []byte("sk-b-rotated"), "d": []byte("sk-d")}
	if err := k8s.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	updated := waitPool(t, nn, "keys/a", "keys/b", "keys/d")
	if updated != pool {
		t.Error("the pool was replaced instead of updated in place")
	}
	if s := keyState(pool, "keys/a"); s != keypool.StateCoolingDown {
		t.Errorf("unchanged key a lost its learned state: %s", s)
	}
	if s := keyState(pool, "keys/b"); s != keypool.StateAvailable {
		t.Errorf("rotated key b kept the old key's state: %s", s)
	}
	eventually(t, 10*time.Second, func() error {
		kp, err := getKeyPool(nn)
		if err != nil {
			return err
		}
		var names []string
		for _, k := range kp.Status.Keys {
			names = append(names, k.Name)
		}
		if got := strings.Join(names, ","); got != "keys/a,keys/b,keys/d" {
			return fmt.Errorf("status keys = %s", got)
		}
		if kp.Status.ExhaustedKeys != 1 || kp.Status.AvailableKeys != 2 {
			return fmt.Errorf("available/exhausted = %d/%d, want 2/1", kp.Status.AvailableKeys, kp.Status.ExhaustedKeys)
		}
		return nil
	})
}

func TestKeyPoolDeletionRemovesPool(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a"})
	kp := createKeyPool(t, ns, "p", simpleSpec("keys"))
	nn := types.NamespacedName{Namespace: ns, Name: "p"}
	waitPool(t, nn, "keys/a")

	if err := k8s.Delete(context.Background(), kp); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if _, ok := registry.Get(ns, "p"); ok {
			return fmt.Errorf("pool still served")
		}
		return nil
	})
}

func TestSpecChangeUpdatesPool(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a"})
	createSecret(t, ns, "more", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"x": "sk-x"})
	kp := createKeyPool(t, ns, "p", simpleSpec("keys"))
	nn := types.NamespacedName{Namespace: ns, Name: "p"}
	waitPool(t, nn, "keys/a")

	// A merge patch of the spec, as kubectl would send: the status the
	// operator writes meanwhile cannot conflict with it.
	patch := client.MergeFrom(kp.DeepCopy())
	kp.Spec.Keys = append(kp.Spec.Keys, llmv1alpha1.KeySource{
		SecretRef: llmv1alpha1.SecretKeysReference{Name: "more"}, Priority: ptr.To[int32](2)})
	kp.Spec.Strategy = llmv1alpha1.StrategyRoundRobin
	kp.Spec.CacheAffinity = true
	if p, _ := registry.Get(ns, "p"); p.AffinityEnabled() {
		t.Fatal("cache affinity is on before spec.cacheAffinity")
	}
	if err := k8s.Patch(context.Background(), kp, patch); err != nil {
		t.Fatal(err)
	}
	pool := waitPool(t, nn, "keys/a", "more/x")
	if !pool.AffinityEnabled() {
		t.Error("spec.cacheAffinity: true did not turn the pool's cache affinity on")
	}
	// The high-priority key takes the traffic.
	if id, _, err := pool.GetKey(context.Background()); err != nil || id != "more/x" {
		t.Errorf("GetKey = %s, %v; want the priority-2 key more/x", id, err)
	}
	eventually(t, 10*time.Second, func() error {
		got, err := getKeyPool(nn)
		if err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("observedGeneration %d != generation %d", got.Status.ObservedGeneration, got.Generation)
		}
		return nil
	})
}

func waitEvent(t *testing.T, kp *llmv1alpha1.KeyPool, reason string) *eventsv1.Event {
	t.Helper()
	var found *eventsv1.Event
	eventually(t, 10*time.Second, func() error {
		var list eventsv1.EventList
		if err := apiClient.List(context.Background(), &list, client.InNamespace(kp.Namespace)); err != nil {
			return err
		}
		for i := range list.Items {
			e := &list.Items[i]
			if e.Regarding.Name == kp.Name && e.Reason == reason {
				found = e
				return nil
			}
		}
		return fmt.Errorf("no %s event for %s among %d events", reason, kp.Name, len(list.Items))
	})
	return found
}

func TestMissingClientTokensIsNotReady(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a"})
	spec := simpleSpec("keys")
	spec.ClientAuth = llmv1alpha1.ClientAuth{SecretRef: &llmv1alpha1.SecretKeysReference{Name: "clients"}}
	createKeyPool(t, ns, "p", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "p"}

	waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionFalse, llmv1alpha1.ReasonClientAuthInvalid)
	createSecret(t, ns, "clients", llmv1alpha1.SecretTypeClientTokens, map[string]string{"app": "token"})
	waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)
}

// TestReadyWaitsForExistingPools: a replica is ready only once every KeyPool
// that exists has been built, so a restart does not serve 404s.
func TestReadyWaitsForExistingPools(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a"})
	createKeyPool(t, ns, "p", simpleSpec("keys"))
	waitPool(t, types.NamespacedName{Namespace: ns, Name: "p"}, "keys/a")

	// A fresh reconciler, as in a restarted replica, against the same cache.
	// Its publisher is never started: it writes nothing.
	registry := keypool.NewRegistry()
	fresh := &KeyPoolReconciler{Client: k8s, APIReader: k8s, Registry: registry, ProxyServiceURL: "http://proxy",
		Publisher: NewStatusPublisher(k8s, nil, registry, time.Hour, logr.Discard())}
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	if err := fresh.Ready(req); err == nil {
		t.Fatal("ready before any pool was built")
	}
	var pools llmv1alpha1.KeyPoolList
	if err := k8s.List(context.Background(), &pools); err != nil {
		t.Fatal(err)
	}
	for i := range pools.Items {
		nn := client.ObjectKeyFromObject(&pools.Items[i])
		if _, err := fresh.Reconcile(context.Background(), ctrl.Request{NamespacedName: nn}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fresh.Ready(req); err != nil {
		t.Fatalf("not ready after every pool was built: %v", err)
	}
	if _, ok := fresh.Registry.Get(ns, "p"); !ok {
		t.Fatal("the fresh replica has no pool")
	}
}
