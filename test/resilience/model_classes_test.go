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

package resilience

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// Providers limit each key per model: one model's empty bucket, or its 429,
// says nothing about another model's. These tests run the real manager in
// front of a fake provider that keeps one bucket set per (key, model) and
// answers each request with its model's rate-limit headers.

const classKeys = 3

// classFake is a fake provider with classKeys keys in organisations of
// their own, rpm requests per minute for every model, each model on
// buckets of its own, and a KeyPool named pool in front of it.
func (c *cluster) classFake(t *testing.T, pool string, rpm int64, extraSpec string) (*fakeprovider.Provider, string) {
	t.Helper()
	keys := make([]fakeprovider.Key, classKeys)
	limits := map[string]fakeprovider.Limits{}
	var data []string
	for i := range keys {
		keys[i] = fakeprovider.Key{Key: fmt.Sprintf("%s-key-%d", pool, i), Org: fmt.Sprintf("%s-org-%d", pool, i)}
		limits[keys[i].Org] = fakeprovider.Limits{RPM: rpm}
		data = append(data, fmt.Sprintf("k%d: %s", i, keys[i].Key))
	}
	fake := fakeprovider.New(fakeprovider.Config{Keys: keys, Limits: limits, SeparateModels: true})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Secret
metadata: {name: %[1]s, namespace: resilience, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {%[2]s}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: %[1]s, namespace: resilience}
spec:
  upstream: %[3]s
  keys: [{secretRef: {name: %[1]s}}]
  clientAuth: {secretRef: {name: clients}}
  failover: {maxAttempts: %[4]d}
%[5]s`, pool, strings.Join(data, ", "), srv.URL, classKeys, extraSpec)
	if _, err := c.kubectl.Run(manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.kubectl.Run(manifest, "delete", "--wait=false", "-f", "-") })
	return fake, srv.URL
}

// answer is what the proxy answered one request.
type answer struct {
	status            int
	retryAfter, tries string
	took              time.Duration
	header            http.Header
	body              []byte
}

// ask sends one request for model through m's proxy.
func (m *manager) ask(t *testing.T, pool, model string) answer {
	t.Helper()
	return m.askWith(t, pool, model, "hi")
}

// askWith sends one request for model with prompt through m's proxy.
func (m *manager) askWith(t *testing.T, pool, model, prompt string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, m.proxyURL+"/pools/"+namespace+"/"+pool+"/v1/messages",
		strings.NewReader(`{"model":"`+model+`","max_tokens":16,"messages":[{"role":"user","content":"`+prompt+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", clientToken)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"),
		tries: resp.Header.Get("X-Keypool-Attempts"), took: time.Since(start), header: resp.Header, body: body}
}

// upstreamRequests reads how many requests the fake provider at url
// received, from its admin endpoint.
func upstreamRequests(t *testing.T, url string) int64 {
	t.Helper()
	resp, err := client.Get(url + "/_fake/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var st fakeprovider.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Total.Requests
}

// TestModelClassesOneModelsEmptyBucketLeavesAnotherServed: after model A's
// bucket on every key runs dry, and A keeps being asked for, 10 of 10
// requests for model B are served at once; further A requests are
// answered 429 with Retry-After by the pool itself, at most a couple of them
// reaching the provider.
func TestModelClassesOneModelsEmptyBucketLeavesAnotherServed(t *testing.T) {
	c := getCluster(t)
	const pool, rpm = "classes", 6
	_, url := c.classFake(t, pool, rpm, "")
	m := c.startManager(t, "manager-classes", "--allowed-upstreams="+c.fakeURL+","+url)
	waitPoolServed(t, m, pool)

	// Model A until the pool refuses it by itself: every key's A bucket
	// (rpm each) is empty, as the provider's headers said.
	refused := false
	for i := int64(0); i < 3*classKeys*rpm && !refused; i++ {
		a := m.ask(t, pool, "model-a")
		refused = a.status == http.StatusTooManyRequests && a.tries == "0"
	}
	if !refused {
		t.Fatal("the pool never refused model-a by itself")
	}
	before := upstreamRequests(t, url)
	for i := range 10 {
		a := m.ask(t, pool, "model-a")
		if a.status != http.StatusTooManyRequests || a.retryAfter == "" {
			t.Errorf("model-a request %d: %d, Retry-After %q; want 429 with Retry-After", i, a.status, a.retryAfter)
		}
		b := m.ask(t, pool, "model-b")
		if b.status != http.StatusOK || b.tries != "1" || b.took > time.Second {
			t.Errorf("model-b request %d: %d after %s and %s attempts; want 200 at once, first attempt", i, b.status, b.took, b.tries)
		}
	}
	if n := upstreamRequests(t, url) - before; n-10 > 2 {
		t.Errorf("%d model-a requests reached the provider after the pool refused it, want at most 2", n-10)
	}
}

// TestModelClasses429OnOneReplicaLeavesAnotherModelServedOnAnother: two
// managers share limits through one Redis; a 429 for model A on every key,
// met by replica 1, cools model A on replica 2 as well, and nothing else.
func TestModelClasses429OnOneReplicaLeavesAnotherModelServedOnAnother(t *testing.T) {
	c := getCluster(t)
	requireFlag(t, c.manager, "redis-url")
	srv := redistest.Start(t)
	const pool = "classes-shared"
	fake, url := c.classFake(t, pool, 600, "")
	flags := []string{"--allowed-upstreams=" + c.fakeURL + "," + url, "--redis-url=" + srv.URL(),
		"--replicas=2", "--redis-timeout=1s"}
	m1 := c.startManager(t, "manager-classes-1", flags...)
	m2 := c.startManager(t, "manager-classes-2", flags...)
	waitPoolServed(t, m1, pool)
	waitPoolServed(t, m2, pool)

	// The provider answers replica 1's model-a request 429 on every key
	// it tries (one per key: maxAttempts is the number of keys).
	if err := fake.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Count: classKeys,
		RetryAfter: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if a := m1.ask(t, pool, "model-a"); a.status != http.StatusTooManyRequests {
		t.Fatalf("replica 1, model-a: %d, want the provider's 429", a.status)
	}
	before := upstreamRequests(t, url)
	for i := range 10 {
		if b := m2.ask(t, pool, "model-b"); b.status != http.StatusOK || b.tries != "1" {
			t.Errorf("replica 2, model-b request %d: %d after %s attempts, want 200 on the first", i, b.status, b.tries)
		}
	}
	a := m2.ask(t, pool, "model-a")
	if a.status != http.StatusTooManyRequests || a.tries != "0" || a.retryAfter == "" {
		t.Errorf("replica 2, model-a: %d after %s attempts, Retry-After %q; want the pool's own 429",
			a.status, a.tries, a.retryAfter)
	}
	if n := upstreamRequests(t, url) - before; n != 10 {
		t.Errorf("%d requests reached the provider, want the 10 for model-b", n)
	}
}

// TestModelClassesRequestLargerThanItsClassIsRefusedAtOnce: a KeyPool
// declares a class with an input limit; a request larger than it is
// answered 400 in Anthropic's error shape without reaching the provider,
// and the class is not cooled: a request that fits is served.
func TestModelClassesRequestLargerThanItsClassIsRefusedAtOnce(t *testing.T) {
	c := getCluster(t)
	const pool = "classes-large"
	_, url := c.classFake(t, pool, 600, `  modelClasses: [{name: tiny, models: [model-tiny*], itpmLimit: 100}]
`)
	m := c.startManager(t, "manager-classes-large", "--allowed-upstreams="+c.fakeURL+","+url)
	waitPoolServed(t, m, pool)
	before := upstreamRequests(t, url)
	a := m.askWith(t, pool, "model-tiny-1", strings.Repeat("lorem ipsum dolor sit amet ", 100))
	if a.status != http.StatusBadRequest || a.tries != "0" {
		t.Fatalf("a request larger than its class: %d after %s attempts (%s), want 400 at once", a.status, a.tries, a.body)
	}
	if err := apitest.WellFormedError(provider.Anthropic, a.header, a.body); err != nil {
		t.Errorf("error body: %v", err)
	}
	if n := upstreamRequests(t, url) - before; n != 0 {
		t.Errorf("%d requests reached the provider, want none", n)
	}
	if a := m.ask(t, pool, "model-tiny-1"); a.status != http.StatusOK {
		t.Errorf("a request that fits: %d, want 200", a.status)
	}
}
