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

package manifests

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

const managerRole = "keypool-manager-role"

func managerArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	obj := find(objs, "Deployment", "keypool-controller-manager")
	if obj == nil {
		t.Fatal("no manager Deployment")
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Args
}

// flagValue returns the value of --name=value in args, and whether it is set.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestDefaultAllowsOnlyTheProvidersUpstreams: the installed manager sends keys
// only to the providers' APIs (the clouds' in every region, and Google's
// token endpoint) unless the admin says otherwise.
func TestDefaultAllowsOnlyTheProvidersUpstreams(t *testing.T) {
	v, ok := flagValue(managerArgs(t, render(t)), "allowed-upstreams")
	if !ok || v != "https://api.anthropic.com,https://api.openai.com,https://generativelanguage.googleapis.com,"+
		"https://bedrock-runtime.*.amazonaws.com,https://bedrock.*.amazonaws.com,"+
		"https://aiplatform.googleapis.com,https://*-aiplatform.googleapis.com,https://oauth2.googleapis.com" {
		t.Fatalf("--allowed-upstreams = %q (set %v), want the providers' APIs", v, ok)
	}
}

// TestNamespacedOverlayBindsPerNamespace: config/namespaced grants the
// manager's rules through RoleBindings in exactly the namespaces it watches,
// and binds them nowhere cluster-wide.
func TestNamespacedOverlayBindsPerNamespace(t *testing.T) {
	objs := renderDir(t, "namespaced")
	var bound []string
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
				t.Fatal(err)
			}
			if b.RoleRef.Name == managerRole {
				t.Errorf("ClusterRoleBinding %s grants the manager's rules cluster-wide", b.Name)
			}
		case "RoleBinding":
			var b rbacv1.RoleBinding
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
				t.Fatal(err)
			}
			if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != managerRole {
				continue
			}
			if len(b.Subjects) != 1 || b.Subjects[0].Name != "keypool-controller-manager" ||
				b.Subjects[0].Namespace != "keypool-system" {
				t.Errorf("RoleBinding %s/%s binds %+v, want the manager's service account", b.Namespace, b.Name, b.Subjects)
			}
			bound = append(bound, b.Namespace)
		}
	}
	if find(objs, "ClusterRole", managerRole) == nil {
		t.Errorf("no ClusterRole %s for the RoleBindings to grant", managerRole)
	}
	v, ok := flagValue(managerArgs(t, objs), "watch-namespaces")
	if !ok {
		t.Fatal("the namespaced manager has no --watch-namespaces")
	}
	watched := strings.Split(v, ",")
	slices.Sort(watched)
	slices.Sort(bound)
	if len(watched) == 0 || !slices.Equal(watched, bound) {
		t.Fatalf("--watch-namespaces %v, RoleBindings in %v: they must match", watched, bound)
	}
}
