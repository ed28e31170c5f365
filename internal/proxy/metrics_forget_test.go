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

import (
	"net/http"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
)

// poolSeries counts the proxy's series (keypool_proxy_*) of namespace/name.
func poolSeries(t *testing.T, e *env, namespace, name string) int {
	t.Helper()
	families, err := e.prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if f.GetName() == "keypool_keys" {
			continue // the registry's view, not the proxy's series
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels[labelNamespace] == namespace && labels[labelPool] == name {
				n++
			}
		}
	}
	return n
}

func TestForgetPoolRemovesItsSeries(t *testing.T) {
	e := newEnv(t, envConfig{})
	wantStatus(t, e.post(apitest.AnthropicBody("hi", false)), http.StatusOK)
	wantStatus(t, e.do(t.Context(), http.MethodPost, "/v1/messages", "{}", nil), http.StatusUnauthorized)
	e.waitIdle()
	before := poolSeries(t, e, namespace, poolName)
	if before == 0 {
		t.Fatal("no series after two requests")
	}

	e.proxy.ForgetPool(namespace, poolName+"-other")
	e.proxy.ForgetPool(namespace+"-other", poolName)
	if n := poolSeries(t, e, namespace, poolName); n != before {
		t.Fatalf("forgetting other pools changed this pool's series: %d, was %d", n, before)
	}
	e.proxy.ForgetPool(namespace, poolName)
	if n := poolSeries(t, e, namespace, poolName); n != 0 {
		t.Fatalf("%d series left after ForgetPool", n)
	}

	// The pool still served (here it was not deleted) starts new series.
	wantStatus(t, e.post(apitest.AnthropicBody("hi", false)), http.StatusOK)
	e.waitIdle()
	if n := poolSeries(t, e, namespace, poolName); n == 0 {
		t.Fatal("no series after a request following ForgetPool")
	}
}
