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
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// TestChartIsGenerated: dist/chart is exactly what `make helm` writes from
// config/ now; an edit of config/ without `make helm` (or of the chart by
// hand) fails here. (Its values table, docs/reference/helm-values.md, is checked by
// test/docs.)
func TestChartIsGenerated(t *testing.T) {
	out := filepath.Join(t.TempDir(), "chart")
	run(t, "go", "run", "./hack/helmchart", "-root", testenv.RepoRoot(), "-out", out,
		"-kustomize", kubectl()+" kustomize")
	want := files(t, out)
	got := files(t, filepath.Join(testenv.RepoRoot(), chartDir))
	for path, w := range want {
		g, ok := got[path]
		switch {
		case !ok:
			t.Errorf("dist/chart/%s missing: run `make helm`", path)
		case !bytes.Equal(g, w):
			t.Errorf("dist/chart/%s differs from what config/ generates: run `make helm`", path)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("dist/chart/%s is not generated from config/: run `make helm`", path)
		}
	}
}

func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		m[rel] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHelmLint lints the chart with its defaults and with every part on.
func TestHelmLint(t *testing.T) {
	helm := tool(t, "helm")
	run(t, helm, "lint", "--strict", chartDir)
	run(t, helm, "lint", "--strict", chartDir, "--values", nonDefaultValues(t))
}

// TestDefaultValuesRenderConfigDefault: with its default values the chart
// renders the objects of config/default, field for field, but for Helm's
// own labels, the CRD's keep annotation, the Namespace (Helm installs into
// the release's) and the Service type spelt out.
func TestDefaultValuesRenderConfigDefault(t *testing.T) {
	var want []*unstructured.Unstructured
	for _, o := range kustomize(t, "default") {
		if o.GetKind() != "Namespace" {
			want = append(want, o)
		}
	}
	same(t, want, helmTemplate(t))
}

// TestOptionalPartsRenderTheirConfig: the ServiceMonitor, the
// PrometheusRule, the NetworkPolicy and the dashboard ConfigMap are those
// of config/prometheus, config/network-policy and config/grafana, as
// config/default would add them.
func TestOptionalPartsRenderTheirConfig(t *testing.T) {
	want := kustomize(t, "default")
	for _, dir := range []string{"prometheus", "network-policy", "network-policy-egress", "grafana"} {
		for _, o := range kustomize(t, dir) {
			o.SetName("keypool-" + o.GetName())
			o.SetNamespace(releaseNamespace)
			want = append(want, o)
		}
	}
	var filtered []*unstructured.Unstructured
	for _, o := range want {
		if o.GetKind() != "Namespace" {
			filtered = append(filtered, o)
		}
	}
	same(t, filtered, helmTemplate(t, "--set", "prometheus.serviceMonitor.enable=true,prometheus.rules.enable=true,"+
		"networkPolicy.enable=true,networkPolicy.egress.enable=true,grafana.dashboard.enable=true"))
}

// TestNamespacedValuesRenderConfigNamespaced: namespaced mode is
// config/namespaced: no cluster-wide grant of the manager's rules,
// RoleBindings in the watched namespaces, --watch-namespaces.
func TestNamespacedValuesRenderConfigNamespaced(t *testing.T) {
	var want []*unstructured.Unstructured
	for _, o := range kustomize(t, "namespaced") {
		if o.GetKind() != "Namespace" {
			want = append(want, o)
		}
	}
	got := helmTemplate(t, "--set", "namespaced.enable=true,namespaced.namespaces={team-a,team-b}")
	if has(got, "ClusterRoleBinding", "keypool-manager-rolebinding") {
		t.Error("namespaced mode renders the cluster-wide manager binding")
	}
	same(t, want, got)
}

// TestRedisValuesRenderTheRedisComponent: redis.enable with an existing
// Secret gives the manager the flags and environment that
// config/components/redis gives it (the component's own example Secret,
// with a placeholder password, is not part of the chart).
func TestRedisValuesRenderTheRedisComponent(t *testing.T) {
	// The component runs two replicas (the default is one without Redis).
	same(t, redisOverlay(t, "../components/redis"),
		helmTemplate(t, "--set", "redis.enable=true,redis.existingSecret=redis,manager.replicas=2"))
}

// TestRedisCAValuesRenderTheRedisCAComponent: redis.caSecret mounts the CA
// bundle and passes --redis-ca-file as config/components/redis-ca does.
func TestRedisCAValuesRenderTheRedisCAComponent(t *testing.T) {
	want := redisOverlay(t, "../components/redis", "../components/redis-ca")
	got := helmTemplate(t, "--set", "redis.enable=true,redis.existingSecret=redis,manager.replicas=2,redis.caSecret=redis-ca")
	if raw, _ := json.Marshal(got); !strings.Contains(string(raw), "--redis-ca-file=/etc/keypool/redis-ca/ca.crt") {
		t.Fatal("redis.caSecret renders no --redis-ca-file")
	}
	same(t, want, got)
}

// redisOverlay builds config/default with the components, less the
// Namespace and the redis component's example Secret, which the chart
// leaves out (the chart uses an existing Secret).
func redisOverlay(t *testing.T, components ...string) []*unstructured.Unstructured {
	t.Helper()
	// The overlay must live next to config/ to reach it: build it in a copy.
	root := t.TempDir()
	copyDir(t, filepath.Join(testenv.RepoRoot(), "config"), filepath.Join(root, "config"))
	overlay := filepath.Join(root, "config", "redis-overlay")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	k := "resources:\n- ../default\ncomponents:\n- " + strings.Join(components, "\n- ") + "\n"
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	var want []*unstructured.Unstructured
	for _, o := range decode(t, run(t, kubectl(), "kustomize", overlay)) {
		if o.GetKind() != "Namespace" && (o.GetKind() != "Secret" || o.GetName() != "redis") {
			want = append(want, o)
		}
	}
	return want
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// same fails unless want and got hold the same objects, compared after
// normalize.
func same(t *testing.T, want, got []*unstructured.Unstructured) {
	t.Helper()
	w, g := index(want), index(got)
	for _, k := range keys(w) {
		if _, ok := g[k]; !ok {
			t.Errorf("the chart does not render %s", k)
		}
	}
	for _, k := range keys(g) {
		wo, ok := w[k]
		if !ok {
			t.Errorf("the chart renders %s, which kustomize does not", k)
			continue
		}
		a, b := normalize(wo), normalize(g[k])
		if !reflect.DeepEqual(a, b) {
			ay, _ := yaml.Marshal(a)
			by, _ := yaml.Marshal(b)
			t.Errorf("%s differs:\nkustomize:\n%s\nchart:\n%s", k, ay, by)
		}
	}
}

// normalize drops what Helm adds by design: its labels, the CRD's keep
// annotation and a Service type of ClusterIP (the default) spelt out.
func normalize(o *unstructured.Unstructured) map[string]any {
	c := o.DeepCopy()
	labels := c.GetLabels()
	for _, l := range []string{"helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by"} {
		delete(labels, l)
	}
	if len(labels) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "labels")
	} else {
		c.SetLabels(labels)
	}
	annotations := c.GetAnnotations()
	delete(annotations, "helm.sh/resource-policy")
	if len(annotations) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
	} else {
		c.SetAnnotations(annotations)
	}
	if c.GetKind() == "Service" {
		if typ, _, _ := unstructured.NestedString(c.Object, "spec", "type"); typ == "ClusterIP" {
			unstructured.RemoveNestedField(c.Object, "spec", "type")
		}
	}
	return c.Object
}

// nonDefaultValues writes a values file that turns every part on and
// changes every value from its default.
func nonDefaultValues(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(strings.TrimSpace(nonDefault)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const nonDefault = `
manager:
  replicas: 3
  image: {repository: registry.example/keypool, tag: v9.9.9, pullPolicy: Always}
  imagePullSecrets: [{name: regcred}]
  resources: {requests: {cpu: 250m, memory: 128Mi}, limits: {memory: 1Gi}}
  nodeSelector: {kubernetes.io/os: linux}
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {control-plane: controller-manager}}
  tolerations: [{key: dedicated, operator: Equal, value: llm, effect: NoSchedule}]
  podAnnotations: {example.com/team: platform}
  leaderElection: {enable: false}
  allowedUpstreams: [https://api.anthropic.com, https://llm.internal.example]
  extraArgs: [--log-level=debug, --status-interval=30s]
  env: [{name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://otel-collector:4318"}, {name: GOMEMLIMIT, value: 800MiB}]
proxy:
  service:
    type: LoadBalancer
    port: 9000
    annotations: {service.beta.kubernetes.io/aws-load-balancer-internal: "true"}
namespaced: {enable: true, namespaces: [team-a, team-b]}
redis: {enable: true, existingSecret: my-redis, urlKey: address, passwordKey: secret}
crd: {enable: false}
rbacHelpers: {enable: false}
metrics: {enable: false}
prometheus:
  serviceMonitor: {enable: true, labels: {release: kube-prometheus-stack}}
  rules: {enable: true, labels: {release: kube-prometheus-stack}}
grafana:
  dashboard: {enable: true, labels: {grafana_folder: llm}}
networkPolicy:
  enable: true
  proxy: {namespaceSelector: {matchLabels: {llm-clients: "true"}}}
  metrics: {namespaceSelector: {matchLabels: {scrapers: "true"}}}
  egress: {enable: true, apiServerCIDRs: [10.0.0.1/32], redisCIDRs: [10.1.0.0/24], upstreamCIDRs: [203.0.113.0/24]}
pdb: {enable: true, maxUnavailable: 2}
`
