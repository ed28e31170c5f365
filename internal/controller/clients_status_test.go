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
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
)

// TestClientsStatusAndMetricsMove: requests through the real proxy with
// named client tokens show up, per client name, in status.clients and in
// the client series of the proxy's metrics, and move with further
// requests; an idle client is listed with zeros; no token appears.
func TestClientsStatusAndMetricsMove(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": fakeKeys[0]})
	createSecret(t, ns, "clients", llmv1alpha1.SecretTypeClientTokens,
		map[string]string{"team-a": "tok-canary-team-a", "team-b": "tok-canary-team-b"})
	spec := simpleSpec("keys")
	spec.Upstream = fakeURL
	spec.ClientAuth = llmv1alpha1.ClientAuth{SecretRef: &llmv1alpha1.SecretKeysReference{Name: "clients"}}
	spec.Clients = []llmv1alpha1.ClientSpec{{Name: "team-a", Weight: 3}}
	createKeyPool(t, ns, "shared", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "shared"}
	waitPool(t, nn, "keys/a")

	send := func(n int) {
		for range n {
			req, err := http.NewRequest(http.MethodPost, proxyURL+"/pools/"+ns+"/shared/v1/messages", strings.NewReader(
				`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hello there"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Api-Key", "tok-canary-team-a")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("proxy answered %d: %s", resp.StatusCode, body)
			}
		}
	}
	waitClients := func(want int64) llmv1alpha1.ClientStatus {
		var a llmv1alpha1.ClientStatus
		eventually(t, 10*time.Second, func() error {
			kp, err := getKeyPool(nn)
			if err != nil {
				return err
			}
			got := kp.Status.Clients
			if len(got) != 2 || got[0].Name != "team-a" || got[1].Name != "team-b" {
				return fmt.Errorf("status.clients %+v, want team-a and team-b", got)
			}
			if got[0].Requests != want || got[0].InputTokens <= 0 || got[0].OutputTokens <= 0 {
				return fmt.Errorf("team-a %+v, want %d requests with tokens", got[0], want)
			}
			if got[1].Requests != 0 {
				return fmt.Errorf("idle team-b %+v", got[1])
			}
			a = got[0]
			return nil
		})
		return a
	}
	send(2)
	first := waitClients(2)
	if v := clientSeries(t, ns, "team-a", "served"); v != 2 {
		t.Fatalf("keypool_proxy_client_requests_total served = %v, want 2", v)
	}
	send(3)
	second := waitClients(5)
	if second.InputTokens <= first.InputTokens {
		t.Fatalf("input tokens did not move: %d then %d", first.InputTokens, second.InputTokens)
	}
	if v := clientSeries(t, ns, "team-a", "served"); v != 5 {
		t.Fatalf("keypool_proxy_client_requests_total served = %v, want 5", v)
	}
	kp, err := getKeyPool(nn)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%+v", kp.Status); strings.Contains(s, "tok-canary") {
		t.Fatalf("a client token in the status: %s", s)
	}
}

// clientSeries is the value of keypool_proxy_client_requests_total for one
// client and outcome of pool "shared" in ns.
func clientSeries(t *testing.T, ns, client, outcome string) float64 {
	t.Helper()
	families, err := proxyMetrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "keypool_proxy_client_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == ns && labels["pool"] == "shared" && labels["client"] == client &&
				labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
