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
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
)

// poolSeries counts the proxy's metric series labeled with namespace ns.
func poolSeries(t *testing.T, ns string) int {
	t.Helper()
	families, err := proxyMetrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" && l.GetValue() == ns {
					n++
				}
			}
		}
	}
	return n
}

func publisherTracks(nn types.NamespacedName) bool {
	publisher.mu.Lock()
	defer publisher.mu.Unlock()
	_, ok := publisher.pools[nn]
	return ok
}

// TestKeyPoolDeletionForgetsEverything: once a KeyPool is deleted its pool,
// the proxy's metric series and the status publisher's record of it are all
// gone, and requests still running on the old pool do not bring any back.
func TestKeyPoolDeletionForgetsEverything(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": fakeKeys[0]})
	spec := simpleSpec("keys")
	spec.Upstream = fakeURL
	kp := createKeyPool(t, ns, "p", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "p"}
	pool := waitPool(t, nn, "keys/a")

	// One real request through the proxy to the fake provider.
	resp, err := http.Post(proxyURL+"/pools/"+ns+"/p/v1/messages", "application/json", strings.NewReader(
		`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("proxy answered %d: %s", resp.StatusCode, body)
	}
	if n := poolSeries(t, ns); n == 0 {
		t.Fatal("no metric series for the pool after a request")
	}
	if !publisherTracks(nn) {
		t.Fatal("the publisher has no record of the pool")
	}

	if err := k8s.Delete(context.Background(), kp); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if _, ok := registry.Get(ns, "p"); ok {
			return fmt.Errorf("pool still served")
		}
		if n := poolSeries(t, ns); n > 0 {
			return fmt.Errorf("%d metric series of the deleted pool remain", n)
		}
		if publisherTracks(nn) {
			return fmt.Errorf("the publisher still keeps the deleted pool's record")
		}
		return nil
	})

	// A request still in flight on the old pool reports a key transition.
	if err := pool.MarkKeyExhausted("keys/a", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if publisherTracks(nn) {
		t.Fatal("a late key transition brought the deleted pool's record back")
	}
}
