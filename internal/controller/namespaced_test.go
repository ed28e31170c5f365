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
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// The namespaced-mode test's namespaces: two served ones and the operator's
// own (its Lease). The suite's cluster-wide manager ignores them
// (namespacedTestNamespaces), so that what is written there is this test's.
const (
	nsModeA, nsModeB, nsModeSystem = "nsmode-a", "nsmode-b", "nsmode-system"
	nsModeSA                       = "controller-manager"
	nsModeProxyURL                 = "http://nsmode-proxy:8080"
)

// namespacedTestNamespaces are left to TestNamespacedModeRunsWithRoleBindingsOnly.
var namespacedTestNamespaces = []string{nsModeA, nsModeB, nsModeSystem}

// readManifest decodes one YAML object of the repository into obj.
func readManifest(t *testing.T, path string, obj any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// grantNamespacedRights gives the service account, in each namespace, the
// manager's generated rules (config/rbac/role.yaml) through RoleBindings, and
// the leader-election Role in the system namespace: what config/namespaced
// deploys. It grants nothing cluster-wide.
func grantNamespacedRights(t *testing.T, ctx context.Context) {
	t.Helper()
	var role rbacv1.ClusterRole
	readManifest(t, "config/rbac/role.yaml", &role)
	role.ObjectMeta = metav1.ObjectMeta{Name: "nsmode-manager-role"}
	var leader rbacv1.Role
	readManifest(t, "config/rbac/leader_election_role.yaml", &leader)
	leader.ObjectMeta = metav1.ObjectMeta{Name: "leader-election-role", Namespace: nsModeSystem}
	objs := []client.Object{&role, &leader}
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: nsModeSA, Namespace: nsModeSystem}
	for _, ns := range []string{nsModeA, nsModeB} {
		objs = append(objs, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "keypool-manager", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{subject},
		})
	}
	objs = append(objs, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "leader-election", Namespace: nsModeSystem},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: leader.Name},
		Subjects:   []rbacv1.Subject{subject},
	})
	for _, ns := range namespacedTestNamespaces {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNamespacedModeRunsWithRoleBindingsOnly runs a second manager, set up as
// cmd/manager does with --watch-namespaces and --leader-elect, as a service
// account that holds only RoleBindings in its namespaces: it starts, builds
// the pools of its namespaces (and only those), writes their status and
// Events, and leads through a Lease in its own namespace.
func TestNamespacedModeRunsWithRoleBindingsOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	grantNamespacedRights(t, ctx)

	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + nsModeSystem + ":" + nsModeSA}
	// The rights really are namespaced: cluster-wide reads are refused.
	sa, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, list := range []client.ObjectList{&corev1.SecretList{}, &llmv1alpha1.KeyPoolList{}} {
		if err := sa.List(ctx, list); !apierrors.IsForbidden(err) {
			t.Fatalf("cluster-wide %T as the service account: %v, want forbidden", list, err)
		}
	}

	// Inputs: a served pool in a, an unlabeled Secret in b (an Event), and a
	// pool outside the watched namespaces.
	createSecret(t, nsModeA, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-a"})
	createKeyPool(t, nsModeA, "p", simpleSpec("keys"))
	createSecret(t, nsModeB, "plain", "", map[string]string{"a": "sk-b"})
	kpB := createKeyPool(t, nsModeB, "q", simpleSpec("plain"))
	outside := newNamespace(t)
	createSecret(t, outside, "keys", llmv1alpha1.SecretTypeProviderKeys, map[string]string{"a": "sk-c"})
	createKeyPool(t, outside, "r", simpleSpec("keys"))

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  CacheOptions([]string{nsModeA, nsModeB}),
		Client:                 client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		// The suite's manager runs a controller of the same name in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := keypool.NewRegistry()
	pub := NewStatusPublisher(mgr.GetClient(), mgr.GetEventRecorder("keypool-controller"), reg,
		testStatusInterval, ctrl.Log.WithName("nsmode-status"))
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pub.ElectLeader(&LeaderElection{Client: clientset, Namespace: nsModeSystem, Name: "keypool-operator.llm.keypool.dev"})
	if err := mgr.Add(pub); err != nil {
		t.Fatal(err)
	}
	r := &KeyPoolReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Registry: reg,
		Publisher: pub, ProxyServiceURL: nsModeProxyURL}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()

	eventually(t, 20*time.Second, func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("manager stopped: %w", err)
		default:
		}
		if err := r.Ready(httptest.NewRequest("GET", "/readyz", nil)); err != nil {
			return err
		}
		if _, ok := reg.Get(nsModeA, "p"); !ok {
			return errors.New("pool nsmode-a/p not built")
		}
		kp, err := getKeyPool(types.NamespacedName{Namespace: nsModeA, Name: "p"})
		if err != nil {
			return err
		}
		if want := nsModeProxyURL + "/pools/" + nsModeA + "/p"; kp.Status.Endpoint != want || kp.Status.TotalKeys != 1 {
			return fmt.Errorf("status endpoint %q, %d keys; want %q, 1 key", kp.Status.Endpoint, kp.Status.TotalKeys, want)
		}
		return nil
	})
	waitCondition(t, types.NamespacedName{Namespace: nsModeA, Name: "p"},
		llmv1alpha1.ConditionReady, metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady)
	waitCondition(t, types.NamespacedName{Namespace: nsModeB, Name: "q"},
		llmv1alpha1.ConditionReady, metav1.ConditionFalse, llmv1alpha1.ReasonSecretNotLabeled)
	waitEvent(t, kpB, llmv1alpha1.ReasonSecretNotLabeled)

	var lease coordinationv1.Lease
	if err := apiClient.Get(ctx, types.NamespacedName{Namespace: nsModeSystem, Name: "keypool-operator.llm.keypool.dev"}, &lease); err != nil {
		t.Fatalf("no Lease in the operator's namespace: %v", err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatal("the Lease has no holder")
	}
	if _, ok := reg.Get(outside, "r"); ok {
		t.Fatal("a pool outside the watched namespaces was built")
	}
}
