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
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// TestStatusWritesAreBounded drives a pool hard for several status intervals
// and counts the status writes the API server sees.
func TestStatusWritesAreBounded(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a", "b": "sk-b"})
	spec := simpleSpec("keys")
	spec.Keys[0].RPMLimit = 6000 // the paced burst below (~3,000 requests) never runs dry
	createKeyPool(t, ns, "busy", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "busy"}
	pool := waitPool(t, nn, "keys/a", "keys/b")
	waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)

	// Watch the object directly on the API server: every status write that
	// changes it is one Modified event.
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(context.Background(), &llmv1alpha1.KeyPoolList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	const burst = 6 * testStatusInterval
	stop := time.Now().Add(burst)
	requests := 0
	// Requests arrive steadily (a few thousand in all), so that the remaining
	// capacity keeps changing throughout the burst.
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	for range pace.C {
		if time.Now().After(stop) {
			break
		}
		lease, err := pool.Acquire(context.Background(), keypool.AcquireOptions{EstimatedInputTokens: 10})
		if err != nil {
			t.Fatal(err)
		}
		pool.ReportResponse(&lease, http.StatusOK, nil)
		pool.Settle(&lease, keypool.Usage{InputTokens: 10, OutputTokens: 5})
		requests++
	}

	// Count the writes during the burst and one interval after it.
	modified := 0
	timeout := time.After(testStatusInterval + testStatusInterval/2)
loop:
	for {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Modified {
				modified++
			}
		case <-timeout:
			break loop
		}
	}
	// At most one write per interval (plus the one a tick may land right at
	// the edge); at least one, since the statistics changed.
	limit := int(burst/testStatusInterval) + 2
	t.Logf("%d requests, %d status writes in %v (interval %v)", requests, modified, burst, testStatusInterval)
	if modified == 0 || modified > limit {
		t.Fatalf("status writes = %d for %d requests, want 1..%d", modified, requests, limit)
	}
}

// TestNoKeyValueInStatusOrEvents runs a pool whose key and client token are
// canaries through rejection and cooldown, then searches everything the
// operator wrote for them.
func TestNoKeyValueInStatusOrEvents(t *testing.T) {
	const keyCanary, tokenCanary = "sk-canary-KEY-7d1f0e", "kp-canary-TOKEN-93ab2c"
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"k1": keyCanary, "k2": keyCanary + "-2"})
	createSecret(t, ns, "clients", llmv1alpha1.SecretTypeClientTokens, map[string]string{"c": tokenCanary})
	spec := simpleSpec("keys")
	spec.ClientAuth = llmv1alpha1.ClientAuth{SecretRef: &llmv1alpha1.SecretKeysReference{Name: "clients"}}
	spec.Keys = append(spec.Keys, llmv1alpha1.KeySource{SecretRef: llmv1alpha1.SecretKeysReference{Name: "missing"}})
	kp := createKeyPool(t, ns, "canary", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "canary"}
	pool := waitPool(t, nn, "keys/k1", "keys/k2")

	// k1 is rejected, k2 cools down after a 429.
	for _, status := range []int{http.StatusUnauthorized, http.StatusTooManyRequests} {
		lease, err := pool.Acquire(context.Background(), keypool.AcquireOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Retry-After": []string{"30"}}
		pool.ReportResponse(&lease, status, h)
		if status == http.StatusUnauthorized {
			// As the proxy does: a re-check of the key confirms the 401.
			pool.Suspect(&lease, time.Minute)
			pool.Confirm(lease.KeyID, lease.APIKey, false)
		}
		pool.Settle(&lease, keypool.Usage{})
	}
	waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)
	waitEvent(t, kp, "KeyRejected")
	waitEvent(t, kp, "KeyCoolingDown")
	waitEvent(t, kp, "SecretNotFound")
	eventually(t, 10*time.Second, func() error {
		got, err := getKeyPool(nn)
		if err != nil {
			return err
		}
		if got.Status.ExhaustedKeys != 2 {
			return fmt.Errorf("exhausted = %d, want 2", got.Status.ExhaustedKeys)
		}
		return nil
	})

	var written bytes.Buffer
	got, _ := getKeyPool(nn)
	status, _ := yaml.Marshal(got.Status)
	written.Write(status)
	var events eventsv1.EventList
	if err := k8s.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		fmt.Fprintln(&written, e.Reason, e.Note)
	}
	for _, canary := range []string{keyCanary, tokenCanary} {
		if strings.Contains(written.String(), canary) {
			t.Fatalf("canary %q found in what the operator wrote:\n%s", canary, written.String())
		}
	}
	if !strings.Contains(written.String(), "keys/k1") {
		t.Fatalf("the rejected key is not named by secret/dataKey:\n%s", written.String())
	}
}

// TestKubectlGetShowsPrintColumns runs the real kubectl against the envtest
// API server.
func TestKubectlGetShowsPrintColumns(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a", "b": "sk-b", "c": "sk-c"})
	createKeyPool(t, ns, "claude", simpleSpec("keys"))
	nn := types.NamespacedName{Namespace: ns, Name: "claude"}
	pool := waitPool(t, nn, "keys/a", "keys/b", "keys/c")
	if err := pool.MarkKeyExhausted("keys/c", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		kp, err := getKeyPool(nn)
		if err != nil {
			return err
		}
		if kp.Status.ExhaustedKeys != 1 {
			return fmt.Errorf("exhausted = %d", kp.Status.ExhaustedKeys)
		}
		return nil
	})

	user, err := env.AddUser(envtest.User{Name: "viewer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubectl, err := user.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := kubectl.Run("get", "keypools", "-n", ns)
	if err != nil {
		msg, _ := io.ReadAll(stderr)
		t.Fatalf("kubectl get keypools: %v: %s", err, msg)
	}
	out, _ := io.ReadAll(stdout)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl output:\n%s", out)
	}
	header, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	wantHeader := []string{"NAME", "STRATEGY", "KEYS", "AVAILABLE", "EXHAUSTED", "REMAINING", "RPM", "READY", "AGE"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Fatalf("header = %q, want %q", header, wantHeader)
	}
	// claude least-loaded 3 2 1 <remaining> True <age>
	if len(row) != 8 || row[0] != "claude" || row[1] != "least-loaded" || row[2] != "3" || row[3] != "2" ||
		row[4] != "1" || row[6] != "True" {
		t.Fatalf("row = %q", row)
	}
	if row[5] == "0" || row[5] == "<none>" {
		t.Fatalf("remaining RPM column = %q, want the pool's remaining requests", row[5])
	}
}
