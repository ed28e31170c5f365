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

package helm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// serviceAccount is the chart's ServiceAccount, as the manager's pods run.
const serviceAccount = "system:serviceaccount:" + releaseNamespace + ":keypool-controller-manager"

var (
	buildOnce              sync.Once
	managerBin, fakeBin    string
	buildErr               error
	binDir                 = filepath.Join(os.TempDir(), fmt.Sprintf("keypool-helm-test-%d", os.Getpid()))
	fakeKeys, fakeLimits   = "helm-key-1=org-a,helm-key-2=org-a", "org-a=rpm:1000"
	poolManifestsNamespace = "team-a"
)

// binaries builds the manager and the fake provider once per test binary.
func binaries(t *testing.T) (string, string) {
	t.Helper()
	buildOnce.Do(func() {
		root := testenv.RepoRoot()
		managerBin, buildErr = testproc.GoBuild(context.Background(), root, binDir, "manager", "./cmd/manager", "-race")
		if buildErr == nil {
			fakeBin, buildErr = testproc.GoBuild(context.Background(), root, binDir, "fakeprovider", "./cmd/fakeprovider", "-race")
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return managerBin, fakeBin
}

// installed is a control plane with the chart applied and the fake provider.
type installed struct {
	admin    testproc.Kubectl
	asSA     string // kubeconfig of the chart's ServiceAccount (impersonated)
	fakeURL  string
	rendered string // the chart as applied
}

// install starts a control plane (its API server authorizes with RBAC),
// renders the chart with values and applies it with server-side apply, so
// the API server validates every object against its schema.
func install(t *testing.T, values ...string) *installed {
	t.Helper()
	_, fake := binaries(t)
	env, _, err := testenv.StartWith(testenv.AssetsDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	dir := t.TempDir()
	in := &installed{admin: testproc.Kubectl{Bin: kubectl(), Kubeconfig: filepath.Join(dir, "admin")}}
	if err := testenv.WriteAdminKubeconfig(env, in.admin.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	// An API server that allowed everything would make the test prove
	// nothing: a ServiceAccount without bindings must be refused.
	if out, _ := in.admin.Run("", "auth", "can-i", "list", "secrets", "--as", "system:serviceaccount:default:nobody"); strings.TrimSpace(out) != "no" {
		t.Fatalf("the API server lets an unbound ServiceAccount list Secrets (%q): it does not authorize with RBAC", out)
	}
	in.asSA = filepath.Join(dir, "serviceaccount")
	impersonate(t, in.admin.Kubeconfig, in.asSA, serviceAccount)

	fakeAddr, _ := testproc.FreeAddr()
	in.fakeURL = "http://" + fakeAddr
	fp, err := testproc.Start("fakeprovider", nil, fake, "-addr", fakeAddr, "-keys", fakeKeys, "-limits", fakeLimits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fp.Stop(5 * time.Second) })
	if err := fp.WaitFor("fakeprovider listening", 30*time.Second); err != nil {
		t.Fatal(err)
	}

	args := append([]string{"template", "keypool", chartDir, "--namespace", releaseNamespace,
		"--set", "manager.allowedUpstreams={" + in.fakeURL + "}"}, values...)
	in.rendered = string(run(t, tool(t, "helm"), args...))
	for _, ns := range []string{releaseNamespace, poolManifestsNamespace} {
		if _, err := in.admin.Run("", "create", "namespace", ns); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := in.admin.Run(in.rendered, "apply", "--server-side", "--field-manager=helm", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if _, err := in.admin.Run("", "wait", "--for=condition=Established", "crd/keypools.llm.keypool.dev", "--timeout=30s"); err != nil {
		t.Fatal(err)
	}
	return in
}

// impersonate writes a copy of the admin kubeconfig whose user acts as
// user: the API server then authorizes every call with user's bindings.
func impersonate(t *testing.T, from, to, user string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = user
	}
	if err := clientcmd.WriteToFile(*cfg, to); err != nil {
		t.Fatal(err)
	}
}

// manager runs the real manager binary with the chart's Deployment's
// arguments (addresses made local; $(POD_NAMESPACE) expanded as the kubelet
// does) and the ServiceAccount's kubeconfig.
func (in *installed) manager(t *testing.T) (*testproc.Process, string) {
	t.Helper()
	bin, _ := binaries(t)
	var d appsv1.Deployment
	convert(t, find(t, decode(t, []byte(in.rendered)), "Deployment", "keypool-controller-manager"), &d)
	proxyAddr, _ := testproc.FreeAddr()
	probeAddr, _ := testproc.FreeAddr()
	metricsAddr, _ := testproc.FreeAddr()
	args := []string{"--proxy-bind-address=" + proxyAddr, "--health-probe-bind-address=" + probeAddr,
		// Outside a pod the Lease's namespace cannot be read from the
		// ServiceAccount's mount.
		"--leader-election-namespace=" + releaseNamespace, "--status-interval=1s", "--shutdown-grace=2s"}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		switch {
		case strings.HasPrefix(a, "--metrics-bind-address="):
			args = append(args, "--metrics-bind-address="+metricsAddr)
		case strings.HasPrefix(a, "--proxy-bind-address="), strings.HasPrefix(a, "--health-probe-bind-address="):
		default:
			args = append(args, strings.ReplaceAll(a, "$(POD_NAMESPACE)", releaseNamespace))
		}
	}
	t.Logf("manager %s", strings.Join(args, " "))
	p, err := testproc.Start("manager", []string{"KUBECONFIG=" + in.asSA, "POD_NAMESPACE=" + releaseNamespace}, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(15 * time.Second)
		if t.Failed() {
			t.Logf("manager output:\n%s", p.Output())
		}
	})
	if err := p.WaitFor("proxy listening", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	return p, "http://" + proxyAddr
}

// pool applies, as the admin, a KeyPool name in team-a over the fake
// provider's keys.
func (in *installed) pool(t *testing.T, name string) {
	t.Helper()
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Secret
metadata: {name: %[1]s-keys, namespace: %[2]s, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {a: helm-key-1, b: helm-key-2}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  upstream: %[3]s
  keys: [{secretRef: {name: %[1]s-keys}}]
  clientAuth: {allowUnauthenticated: true}
`, name, poolManifestsNamespace, in.fakeURL)
	if _, err := in.admin.Run(manifest, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// served waits for the KeyPool to be Ready and sends it one request.
func (in *installed) served(t *testing.T, proxyURL, name string) {
	t.Helper()
	if _, err := in.admin.Run("", "wait", "-n", poolManifestsNamespace, "--for=condition=Ready",
		"keypool/"+name, "--timeout=90s"); err != nil {
		t.Fatal(err)
	}
	code, body := ask(t, proxyURL, name)
	if code != http.StatusOK || !strings.Contains(body, `"content"`) {
		t.Fatalf("request through the proxy: %d %s", code, body)
	}
}

func ask(t *testing.T, proxyURL, name string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, proxyURL+"/pools/"+poolManifestsNamespace+"/"+name+"/v1/messages",
		strings.NewReader(apitest.AnthropicBody("hello", false)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("x-api-key", "any")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// canI asks the API server whether the ServiceAccount may do verb on
// resource in namespace.
func (in *installed) canI(t *testing.T, verb, resource, namespace string) bool {
	t.Helper()
	out, _ := in.admin.Run("", "auth", "can-i", verb, resource, "-n", namespace, "--as", serviceAccount)
	return strings.TrimSpace(out) == "yes"
}

// TestChartInstallsAndItsRBACSuffices: the chart with its default values
// (but the fake provider allowed) installs on a real API server; the real
// manager, as the chart's ServiceAccount with only the chart's permissions,
// elects itself, reconciles a KeyPool to Ready and serves a request. Then
// one permission of the chart's ClusterRole is taken away, and the same
// manager cannot serve a new KeyPool: the API server really enforces RBAC.
func TestChartInstallsAndItsRBACSuffices(t *testing.T) {
	in := install(t)
	if !in.canI(t, "list", "secrets", poolManifestsNamespace) {
		t.Fatal("the chart does not let its ServiceAccount list Secrets")
	}
	if in.canI(t, "create", "secrets", poolManifestsNamespace) {
		t.Fatal("the chart lets its ServiceAccount create Secrets")
	}
	m, proxyURL := in.manager(t)
	in.pool(t, "first")
	in.served(t, proxyURL, "first")
	m.Stop(15 * time.Second)

	// Take "secrets" out of the manager's ClusterRole.
	out, err := in.admin.Run("", "get", "clusterrole", "keypool-manager-role", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := json.Unmarshal([]byte(out), &role); err != nil {
		t.Fatal(err)
	}
	role.Rules = slices.DeleteFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "secrets") })
	role.ManagedFields = nil
	edited, _ := json.Marshal(role)
	if _, err := in.admin.Run(string(edited), "replace", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if in.canI(t, "list", "secrets", poolManifestsNamespace) {
		t.Fatal("the ServiceAccount still lists Secrets without the rule")
	}
	m, proxyURL = in.manager(t)
	in.pool(t, "second")
	if err := m.WaitFor("forbidden", 60*time.Second); err != nil {
		t.Fatalf("no forbidden error without the secrets rule: %v", err)
	}
	if code, body := ask(t, proxyURL, "second"); code == http.StatusOK {
		t.Fatalf("the pool was served without permission to read its keys: %s", body)
	}
	out, err = in.admin.Run("", "get", "keypool", "second", "-n", poolManifestsNamespace,
		"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	if err != nil {
		t.Fatal(err)
	}
	if out == "True" {
		t.Fatal("KeyPool second is Ready without permission to read its keys")
	}
}

// TestNamespacedChartInstallsAndItsRBACSuffices: the same in namespaced
// mode, where the ServiceAccount has no cluster-wide grant of the
// manager's rules, only a RoleBinding in the watched namespace.
func TestNamespacedChartInstallsAndItsRBACSuffices(t *testing.T) {
	in := install(t, "--set", "namespaced.enable=true", "--set", "namespaced.namespaces={"+poolManifestsNamespace+"}")
	if in.canI(t, "list", "secrets", "default") {
		t.Fatal("namespaced mode lets the ServiceAccount list Secrets outside the watched namespace")
	}
	if !in.canI(t, "list", "secrets", poolManifestsNamespace) {
		t.Fatal("namespaced mode does not let the ServiceAccount list Secrets in the watched namespace")
	}
	_, proxyURL := in.manager(t)
	in.pool(t, "first")
	in.served(t, proxyURL, "first")
}
