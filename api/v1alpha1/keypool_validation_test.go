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

package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

var k8s client.Client

func TestMain(m *testing.M) {
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// validSpec is the smallest valid KeyPool spec; each invalid case changes one thing.
const validSpec = `
keys:
- secretRef: {name: anthropic-keys}
clientAuth:
  secretRef: {name: clients}
`

func keyPool(t *testing.T, name, spec string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	var specMap map[string]any
	if err := yaml.Unmarshal([]byte(spec), &specMap); err != nil {
		t.Fatalf("bad test spec: %v", err)
	}
	obj.SetUnstructuredContent(map[string]any{"spec": specMap})
	obj.SetAPIVersion(llmv1alpha1.GroupVersion.String())
	obj.SetKind("KeyPool")
	obj.SetNamespace("default")
	obj.SetName(name)
	return obj
}

func TestValidKeyPoolGetsDefaults(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, keyPool(t, "defaults", validSpec)); err != nil {
		t.Fatalf("valid KeyPool rejected: %v", err)
	}
	var kp llmv1alpha1.KeyPool
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "defaults"}, &kp); err != nil {
		t.Fatal(err)
	}
	s := kp.Spec
	if s.Provider != llmv1alpha1.ProviderAnthropic {
		t.Errorf("provider = %q, want anthropic", s.Provider)
	}
	if s.Strategy != llmv1alpha1.StrategyLeastLoaded {
		t.Errorf("strategy = %q, want least-loaded", s.Strategy)
	}
	if s.Failover.MaxAttempts != 3 {
		t.Errorf("failover.maxAttempts = %d, want 3", s.Failover.MaxAttempts)
	}
	if s.QueueTimeout == nil || s.QueueTimeout.Duration != 0 {
		t.Errorf("queueTimeout = %v, want 0s", s.QueueTimeout)
	}
	k := s.Keys[0]
	if k.Priority == nil || *k.Priority != 1 || k.Weight != 1 {
		t.Errorf("keys[0] priority/weight = %v/%d, want 1/1", k.Priority, k.Weight)
	}
}

func TestFullKeyPoolAccepted(t *testing.T) {
	spec := `
provider: openai
upstream: http://fake-provider.default.svc:9090/base
strategy: weighted
keys:
- secretRef: {name: org-a}
  rpmLimit: 50
  itpmLimit: 30000
  otpmLimit: 8000
  priority: 2
  weight: 3
  limitGroup: org-a
- secretRef: {name: backup, key: sk-1}
  priority: 0
clientAuth:
  allowUnauthenticated: true
failover: {maxAttempts: 5}
queueTimeout: 30s
`
	if err := k8s.Create(context.Background(), keyPool(t, "teams", validSpec+`clients:
- {name: team-a, weight: 3, maxWaiting: 10}
- name: team-b
  quota: {rpm: 60, itpm: 50000, otpm: 10000, dailyTokens: 1000000, monthlyTokens: 20000000}
`)); err != nil {
		t.Fatalf("KeyPool with clients and quotas rejected: %v", err)
	}
	if err := k8s.Create(context.Background(), keyPool(t, "full", spec)); err != nil {
		t.Fatalf("valid KeyPool rejected: %v", err)
	}
	var kp llmv1alpha1.KeyPool
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "full"}, &kp); err != nil {
		t.Fatal(err)
	}
	if p := kp.Spec.Keys[1].Priority; p == nil || *p != 0 {
		t.Errorf("explicit priority 0 not kept: %v", p)
	}
	if kp.Spec.QueueTimeout.Duration.String() != "30s" {
		t.Errorf("queueTimeout = %v", kp.Spec.QueueTimeout)
	}
}

// TestNewProvidersAccepted: azure with its resource endpoint, gemini
// without an upstream (it has a default), and bedrock and vertex with or
// without a region, are valid.
func TestNewProvidersAccepted(t *testing.T) {
	for name, spec := range map[string]string{
		"azure":          "provider: azure\nupstream: https://my-resource.openai.azure.com" + validSpec,
		"gemini":         "provider: gemini" + validSpec,
		"bedrock":        "provider: bedrock" + validSpec,
		"bedrock-region": "provider: bedrock\nregion: eu-west-1" + validSpec,
		"vertex-region":  "provider: vertex\nregion: us-east5" + validSpec,
	} {
		if err := k8s.Create(context.Background(), keyPool(t, "provider-"+name, spec)); err != nil {
			t.Errorf("%s KeyPool rejected: %v", name, err)
		}
	}
}

// TestInvalidKeyPoolsRejected has one case per validation rule of the API:
// the API server must refuse the object with a message naming the field.
func TestInvalidKeyPoolsRejected(t *testing.T) {
	cases := []struct {
		name      string
		spec      string
		wantField string
	}{
		{"unknown provider", `provider: sagemaker` + validSpec, "spec.provider"},
		{"region for anthropic", `region: us-east-1` + validSpec, "spec.region"},
		{"region and upstream", "provider: bedrock\nregion: us-east-1\nupstream: https://gw.example.com" + validSpec, "spec.region"},
		{"bad region", "provider: vertex\nregion: US_EAST" + validSpec, "spec.region"},
		{"azure without upstream", `provider: azure` + validSpec, "spec.upstream"},
		{"unknown strategy", `strategy: fastest` + validSpec, "spec.strategy"},
		{"empty keys", "keys: []\nclientAuth: {allowUnauthenticated: true}", "spec.keys"},
		{"missing keys", "clientAuth: {allowUnauthenticated: true}", "spec.keys"},
		{"too many keys", manyKeys(101), "spec.keys"},
		{"negative rpmLimit", oneKey(`rpmLimit: -1`), "spec.keys[0].rpmLimit"},
		{"negative itpmLimit", oneKey(`itpmLimit: -5`), "spec.keys[0].itpmLimit"},
		{"negative otpmLimit", oneKey(`otpmLimit: -5`), "spec.keys[0].otpmLimit"},
		{"priority above range", oneKey(`priority: 3`), "spec.keys[0].priority"},
		{"priority below range", oneKey(`priority: -1`), "spec.keys[0].priority"},
		{"zero weight", oneKey(`weight: 0`), "spec.keys[0].weight"},
		{"bad limitGroup", oneKey(`limitGroup: "Org A"`), "spec.keys[0].limitGroup"},
		{"empty secret name", "keys:\n- secretRef: {name: \"\"}\nclientAuth: {allowUnauthenticated: true}", "spec.keys[0].secretRef.name"},
		{"upstream not a URL", `upstream: "not a url"` + validSpec, "spec.upstream"},
		{"upstream not http", `upstream: ftp://example.com` + validSpec, "spec.upstream"},
		{"both client auth", "keys:\n- secretRef: {name: k}\nclientAuth: {allowUnauthenticated: true, secretRef: {name: c}}", "spec.clientAuth"},
		{"neither client auth", "keys:\n- secretRef: {name: k}\nclientAuth: {}", "spec.clientAuth"},
		{"client auth opt-out false", "keys:\n- secretRef: {name: k}\nclientAuth: {allowUnauthenticated: false}", "spec.clientAuth"},
		{"zero maxAttempts", `failover: {maxAttempts: 0}` + validSpec, "spec.failover.maxAttempts"},
		{"negative queueTimeout", `queueTimeout: -1s` + validSpec, "spec.queueTimeout"},
		{"clients without tokens", oneKey("") + "\nclients: [{name: team-a}]", "spec.clients needs clientAuth.secretRef"},
		{"client name not a data key", `clients: [{name: "team a"}]` + validSpec, "spec.clients[0].name"},
		{"zero client weight", `clients: [{name: a, weight: 0}]` + validSpec, "spec.clients[0].weight"},
		{"negative quota", `clients: [{name: a, quota: {rpm: -1}}]` + validSpec, "spec.clients[0].quota.rpm"},
		{"daily over monthly", `clients: [{name: a, quota: {dailyTokens: 10, monthlyTokens: 5}}]` + validSpec,
			"quota.dailyTokens must not exceed quota.monthlyTokens"},
		{"duplicate client", `clients: [{name: a}, {name: a}]` + validSpec, "spec.clients[1]"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), keyPool(t, fmt.Sprintf("invalid-%d", i), tc.spec))
			if err == nil {
				t.Fatalf("KeyPool accepted, want rejection naming %s", tc.wantField)
			}
			if !strings.Contains(err.Error(), tc.wantField) {
				t.Fatalf("error does not name %s: %v", tc.wantField, err)
			}
		})
	}
}

func oneKey(field string) string {
	return "keys:\n- secretRef: {name: k}\n  " + field + "\nclientAuth: {allowUnauthenticated: true}"
}

func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString("clientAuth: {allowUnauthenticated: true}\nkeys:\n")
	for i := range n {
		fmt.Fprintf(&b, "- secretRef: {name: k%d}\n", i)
	}
	return b.String()
}
