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
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
)

func TestUpstreamAllowlist(t *testing.T) {
	a, err := ParseAllowedUpstreams(" https://api.anthropic.com, https://api.openai.com/ ,http://127.0.0.1:9090,http://[::1]:8080")
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]bool{
		"https://api.anthropic.com":                     true,
		"https://api.anthropic.com/":                    true,
		"https://api.anthropic.com/v1/proxy":            true, // paths below an origin
		"https://API.Anthropic.COM:443/v1":              true, // case and default port
		"https://api.anthropic.com./":                   true, // the same host, fully qualified
		"https://api.openai.com":                        true,
		"http://127.0.0.1:9090/x":                       true,
		"http://[0:0::1]:8080":                          true,  // another spelling of ::1
		"http://api.anthropic.com":                      false, // scheme
		"https://api.anthropic.com:8443":                false, // port
		"https://api.anthropic.com.evil.example":        false,
		"https://evil.example/api.anthropic.com":        false,
		"https://api.anthropic.com@evil.example":        false,
		"https://user:pw@api.anthropic.com":             false, // credentials nobody vetted
		"http://169.254.169.254/latest/meta-data":       false,
		"http://127.0.0.1:9091":                         false,
		"http://127.0.0.1":                              false,
		"http://localhost:9090":                         false, // names are compared, not resolved
		"ftp://api.anthropic.com":                       false,
		"https://api.anthropic.com:443@169.254.169.254": false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := a.Allows(u); got != want {
			t.Errorf("Allows(%s) = %v, want %v", raw, got, want)
		}
	}
	if a.Allows(nil) {
		t.Error("Allows(nil)")
	}
	for _, bad := range []string{"", " , ", "https://api.anthropic.com/v1", "ftp://example.com", "api.anthropic.com",
		"https://user@api.anthropic.com", "https://api.anthropic.com?x=1", "https://"} {
		if _, err := ParseAllowedUpstreams(bad); err == nil {
			t.Errorf("ParseAllowedUpstreams(%q) accepted", bad)
		}
	}
	if _, err := ParseAllowedUpstreams(DefaultAllowedUpstreams); err != nil {
		t.Fatal(err)
	}
}

// TestUpstreamNotAllowedIsNotServed: a KeyPool author cannot send keys to an
// upstream the operator does not allow (here a cloud metadata endpoint); no
// Secret is even read. Moving to an allowed origin, with a path, serves it.
func TestUpstreamNotAllowedIsNotServed(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a"})
	spec := simpleSpec("keys")
	spec.Upstream = "http://169.254.169.254/latest/meta-data"
	kp := createKeyPool(t, ns, "p", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "p"}

	got := waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionFalse, llmv1alpha1.ReasonUpstreamNotAllowed)
	if msg := conditionMessage(got, llmv1alpha1.ConditionReady); !strings.Contains(msg, "169.254.169.254") {
		t.Errorf("Ready message does not name the upstream: %q", msg)
	}
	if _, ok := registry.Get(ns, "p"); ok {
		t.Fatal("a pool with a disallowed upstream is served")
	}
	if got.Status.Upstream != "" {
		t.Errorf("status.upstream = %q for a refused upstream, want empty", got.Status.Upstream)
	}
	if rec, pool := reconcileRecorded(t, nn); pool != nil || len(rec.secretsRead()) > 0 {
		t.Fatalf("pool %v built; values of %v read", pool != nil, rec.secretsRead())
	}

	patch := client.MergeFrom(kp.DeepCopy())
	kp.Spec.Upstream = "https://API.anthropic.com:443/v1beta"
	if err := k8s.Patch(context.Background(), kp, patch); err != nil {
		t.Fatal(err)
	}
	pool := waitPool(t, nn, "keys/a")
	if u := pool.Access().Upstream.String(); u != "https://API.anthropic.com:443/v1beta" {
		t.Errorf("upstream = %s", u)
	}
	served := waitCondition(t, nn, llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)
	if served.Status.Upstream != "https://API.anthropic.com:443/v1beta" {
		t.Errorf("status.upstream = %q, want spec.upstream", served.Status.Upstream)
	}
}

// TestDefaultUpstreamsCoverCloudRegions: the default allowlist admits
// Bedrock's and Vertex AI's endpoints in every region, and a "*" matches
// within one host label, never across a dot or into another domain.
func TestDefaultUpstreamsCoverCloudRegions(t *testing.T) {
	a, err := ParseAllowedUpstreams(DefaultAllowedUpstreams)
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]bool{
		"https://bedrock-runtime.us-east-1.amazonaws.com":      true,
		"https://bedrock-runtime.eu-central-1.amazonaws.com/x": true,
		"https://bedrock.ap-south-1.amazonaws.com":             true,
		"https://aiplatform.googleapis.com":                    true,
		"https://us-east5-aiplatform.googleapis.com":           true,
		"http://bedrock-runtime.us-east-1.amazonaws.com":       false, // scheme
		"https://bedrock-runtime.us-east-1.evil.amazonaws.com": false, // one label only
		"https://bedrock-runtime.us-east-1.amazonaws.com.evil": false,
		"https://s3.us-east-1.amazonaws.com":                   false,
		"https://evil.example/-aiplatform.googleapis.com":      false,
		"https://x.us-east5-aiplatform.googleapis.com":         false,
		"https://us-east5-aiplatform.googleapis.com:8443":      false, // port
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := a.Allows(u); got != want {
			t.Errorf("Allows(%s) = %v, want %v", raw, got, want)
		}
	}
}

// TestVertexTokenEndpointMustBeAllowed: a service-account key sends a
// signed token request to its token_uri, so that endpoint is held to
// --allowed-upstreams like the upstream: a key naming another is left out
// (Degraded names it, never its value), Google's own is used.
func TestVertexTokenEndpointMustBeAllowed(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, "sa", llmv1alpha1.SecretTypeProviderKeys, map[string]string{
		"google":   `{"type":"service_account","project_id":"p","token_uri":"https://oauth2.googleapis.com/token"}`,
		"metadata": `{"type":"service_account","project_id":"p","token_uri":"http://169.254.169.254/token"}`,
	})
	spec := simpleSpec("sa")
	spec.Provider = llmv1alpha1.ProviderVertex
	createKeyPool(t, ns, "v", spec)
	nn := types.NamespacedName{Namespace: ns, Name: "v"}
	waitPool(t, nn, "sa/google")
	got := waitCondition(t, nn, llmv1alpha1.ConditionDegraded, metav1.ConditionTrue, llmv1alpha1.ReasonUpstreamNotAllowed)
	if msg := conditionMessage(got, llmv1alpha1.ConditionDegraded); !strings.Contains(msg, "sa/metadata") ||
		strings.Contains(msg, "service_account") {
		t.Errorf("Degraded message: %q", msg)
	}
}
