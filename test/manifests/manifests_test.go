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

// Package manifests checks the kustomize tree users deploy with.
package manifests

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// render runs `kubectl kustomize config/default` and returns its objects.
func render(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	return renderDir(t, "default")
}

// renderDir runs `kubectl kustomize config/<dir>` and returns its objects.
func renderDir(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	kubectl := filepath.Join(testenv.AssetsDir(), "kubectl")
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(testenv.RepoRoot(), "config", dir)).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("kubectl kustomize config/%s: %v: %s", dir, err, exit.Stderr)
		}
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatal(err)
		}
		objs = append(objs, obj)
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func TestDefaultRendersTheOperator(t *testing.T) {
	objs := render(t)
	for _, want := range []struct{ kind, name string }{
		{"CustomResourceDefinition", "keypools.llm.keypool.dev"},
		{"Deployment", "keypool-controller-manager"},
		{"Service", "keypool-proxy"},
		{"ClusterRole", "keypool-manager-role"},
		{"Role", "keypool-leader-election-role"},
	} {
		if find(objs, want.kind, want.name) == nil {
			t.Errorf("config/default renders no %s %s", want.kind, want.name)
		}
	}
	if svc := find(objs, "Service", "keypool-proxy"); svc != nil && svc.GetNamespace() != "keypool-system" {
		t.Errorf("proxy Service in namespace %q, want keypool-system", svc.GetNamespace())
	}
}

// TestManagerRoleReadsSecretsOnly: the operator may read Secrets, never
// write them.
func TestManagerRoleReadsSecretsOnly(t *testing.T) {
	obj := find(render(t), "ClusterRole", "keypool-manager-role")
	if obj == nil {
		t.Fatal("no manager ClusterRole")
	}
	var role rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rule := range role.Rules {
		if slices.Contains(rule.Resources, "secrets") || slices.Contains(rule.Resources, "*") {
			found = true
			verbs := slices.Sorted(slices.Values(rule.Verbs))
			if !slices.Equal(verbs, []string{"get", "list", "watch"}) {
				t.Errorf("secrets verbs = %v, want get, list, watch only", rule.Verbs)
			}
		}
	}
	if !found {
		t.Error("the manager role grants nothing on secrets")
	}
}
