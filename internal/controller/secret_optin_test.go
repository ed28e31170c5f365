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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// recordingReader is a real reader (the suite's client, which reads Secrets
// straight from the API server) that records the names of the Secrets whose
// data it handed out.
type recordingReader struct {
	client.Reader
	mu   sync.Mutex
	read []string
}

func (r *recordingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := r.Reader.Get(ctx, key, obj, opts...)
	if s, ok := obj.(*corev1.Secret); ok && err == nil {
		r.record(s)
	}
	return err
}

func (r *recordingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := r.Reader.List(ctx, list, opts...)
	if l, ok := list.(*corev1.SecretList); ok && err == nil {
		for i := range l.Items {
			r.record(&l.Items[i])
		}
	}
	return err
}

func (r *recordingReader) record(s *corev1.Secret) {
	if len(s.Data) == 0 {
		return
	}
	r.mu.Lock()
	r.read = append(r.read, s.Name)
	r.mu.Unlock()
}

func (r *recordingReader) secretsRead() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.read...)
}

// reconcileRecorded reconciles nn once with a fresh reconciler, configured as
// the suite's, reading through a recordingReader, and returns the reader and
// the pool it built (nil when none).
func reconcileRecorded(t *testing.T, nn types.NamespacedName) (*recordingReader, *keypool.KeyPool) {
	t.Helper()
	rec := &recordingReader{Reader: k8s}
	reg := keypool.NewRegistry()
	allowed, err := ParseAllowedUpstreams(DefaultAllowedUpstreams + "," + fakeURL)
	if err != nil {
		t.Fatal(err)
	}
	r := &KeyPoolReconciler{Client: k8s, APIReader: rec, Registry: reg, ProxyServiceURL: "http://proxy",
		AllowedUpstreams: allowed, Publisher: NewStatusPublisher(k8s, nil, reg, time.Hour, logr.Discard())}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: nn}); err != nil {
		t.Fatal(err)
	}
	pool, _ := reg.Get(nn.Namespace, nn.Name)
	return rec, pool
}

func conditionMessage(kp *llmv1alpha1.KeyPool, condType string) string {
	if c := meta.FindStatusCondition(kp.Status.Conditions, condType); c != nil {
		return c.Message
	}
	return ""
}

// TestUnlabeledSecretsAreNeverRead: a KeyPool naming Secrets that did not opt
// in (no label, or the label for the other use) is not served, says which
// Secret lacks what, and the operator never receives those Secrets' values.
// Labeling them later builds the pool.
func TestUnlabeledSecretsAreNeverRead(t *testing.T) {
	ns := newNamespace(t)
	keys := createSecret(t, ns, "db-password", "", map[string]string{"password": "hunter2-canary"})
	// Labeled, but for keys: not usable as client tokens.
	clients := createSecret(t, ns, "clients", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"app": "tok-canary"})
	spec := simpleSpec("db-password")
	spec.ClientAuth = llmv1alpha1.ClientAuth{SecretRef: &llmv1alpha1.SecretKeysReference{Name: "clients"}}
	createKeyPool(t, ns, "p", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "p"}

	kp := waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionFalse, llmv1alpha1.ReasonSecretNotLabeled)
	if msg := conditionMessage(kp, llmv1alpha1.ConditionReady); !strings.Contains(msg, `"db-password"`) ||
		!strings.Contains(msg, llmv1alpha1.SecretTypeLabel+"="+llmv1alpha1.SecretTypeProviderKeys) {
		t.Errorf("Ready message does not name the Secret and the label it needs: %q", msg)
	}
	kp = waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionTrue, llmv1alpha1.ReasonSecretNotLabeled)
	if msg := conditionMessage(kp, llmv1alpha1.ConditionDegraded); !strings.Contains(msg, `"clients"`) ||
		!strings.Contains(msg, llmv1alpha1.SecretTypeClientTokens) {
		t.Errorf("Degraded message does not name the client-token Secret: %q", msg)
	}
	if _, ok := registry.Get(ns, "p"); ok {
		t.Fatal("a pool built from unlabeled Secrets is served")
	}
	if rec, pool := reconcileRecorded(t, nn); pool != nil || len(rec.secretsRead()) > 0 {
		t.Fatalf("pool %v built; values of %v read", pool != nil, rec.secretsRead())
	}
	waitEvent(t, kp, llmv1alpha1.ReasonSecretNotLabeled)

	// The owners opt in: the watch (of labeled Secrets only) sees them appear.
	for s, use := range map[*corev1.Secret]string{keys: llmv1alpha1.SecretTypeProviderKeys, clients: llmv1alpha1.SecretTypeClientTokens} {
		patch := client.MergeFrom(s.DeepCopy())
		s.Labels = map[string]string{llmv1alpha1.SecretTypeLabel: use}
		if err := k8s.Patch(context.Background(), s, patch); err != nil {
			t.Fatal(err)
		}
	}
	waitPool(t, nn, "db-password/password")
	waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)
	if rec, _ := reconcileRecorded(t, nn); strings.Join(rec.secretsRead(), ",") != "db-password,clients" {
		t.Fatalf("labeled Secrets read: %v", rec.secretsRead())
	}

	// Removing the label is seen as the Secret going away.
	patch := client.MergeFrom(keys.DeepCopy())
	keys.Labels = nil
	if err := k8s.Patch(context.Background(), keys, patch); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionFalse, llmv1alpha1.ReasonSecretNotLabeled)
	eventually(t, 10*time.Second, func() error {
		if _, ok := registry.Get(ns, "p"); ok {
			return fmt.Errorf("pool still served after its Secret's label was removed")
		}
		return nil
	})
}

// TestServiceAccountTokenIsRefused: a service-account token is never read,
// even labeled.
func TestServiceAccountTokenIsRefused(t *testing.T) {
	ns := newNamespace(t)
	token := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default-token",
			Labels:      map[string]string{llmv1alpha1.SecretTypeLabel: llmv1alpha1.SecretTypeProviderKeys},
			Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type:       corev1.SecretTypeServiceAccountToken,
		StringData: map[string]string{"token": "sa-token-canary"},
	}
	if err := k8s.Create(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	createKeyPool(t, ns, "p", simpleSpec("default-token"))
	nn := types.NamespacedName{Namespace: ns, Name: "p"}

	kp := waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionFalse, llmv1alpha1.ReasonSecretTypeRefused)
	if msg := conditionMessage(kp, llmv1alpha1.ConditionReady); !strings.Contains(msg, `"default-token"`) {
		t.Errorf("Ready message does not name the Secret: %q", msg)
	}
	if _, ok := registry.Get(ns, "p"); ok {
		t.Fatal("a pool built from a service-account token is served")
	}
	if rec, pool := reconcileRecorded(t, nn); pool != nil || len(rec.secretsRead()) > 0 {
		t.Fatalf("pool %v built; values of %v read", pool != nil, rec.secretsRead())
	}
}
