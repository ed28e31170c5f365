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
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestNonDefaultValues: every value changes what it says it changes.
func TestNonDefaultValues(t *testing.T) {
	objs := helmTemplate(t, "--values", nonDefaultValues(t))

	var d appsv1.Deployment
	convert(t, find(t, objs, "Deployment", "keypool-controller-manager"), &d)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("replicas", *d.Spec.Replicas, int32(3))
	check("image", c.Image, "registry.example/keypool:v9.9.9")
	check("imagePullPolicy", c.ImagePullPolicy, corev1.PullAlways)
	check("imagePullSecrets", pod.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "regcred"}})
	check("memory limit", c.Resources.Limits.Memory().String(), "1Gi")
	check("cpu request", c.Resources.Requests.Cpu().String(), "250m")
	check("nodeSelector", pod.NodeSelector, map[string]string{"kubernetes.io/os": "linux"})
	if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil {
		t.Error("affinity not rendered")
	}
	check("tolerations", len(pod.Tolerations), 1)
	check("pod annotation", d.Spec.Template.Annotations["example.com/team"], "platform")
	check("default-container annotation kept", d.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"], "manager")
	for _, want := range []string{
		"--allowed-upstreams=https://api.anthropic.com,https://llm.internal.example",
		"--watch-namespaces=team-a,team-b",
		"--redis-url=$(REDIS_URL)",
		"--replicas=3",
		"--log-level=debug",
		"--status-interval=30s",
		"--proxy-service-url=http://keypool-proxy.$(POD_NAMESPACE).svc:9000",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	for _, arg := range c.Args {
		if arg == "--leader-elect" || strings.HasPrefix(arg, "--metrics-bind-address") {
			t.Errorf("arg %s rendered with leader election and metrics off", arg)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	check("GOMEMLIMIT", env["GOMEMLIMIT"].Value, "800MiB")
	check("OTEL env", env["OTEL_EXPORTER_OTLP_ENDPOINT"].Value, "http://otel-collector:4318")
	if ref := env["REDIS_URL"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "my-redis" || ref.SecretKeyRef.Key != "address" {
		t.Errorf("REDIS_URL = %+v, want my-redis/address", env["REDIS_URL"])
	}
	if ref := env["REDIS_PASSWORD"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "my-redis" || ref.SecretKeyRef.Key != "secret" {
		t.Errorf("REDIS_PASSWORD = %+v, want my-redis/secret", env["REDIS_PASSWORD"])
	}

	var svc corev1.Service
	convert(t, find(t, objs, "Service", "keypool-proxy"), &svc)
	check("proxy Service type", svc.Spec.Type, corev1.ServiceTypeLoadBalancer)
	check("proxy Service port", svc.Spec.Ports[0].Port, int32(9000))
	check("proxy Service annotation", svc.Annotations["service.beta.kubernetes.io/aws-load-balancer-internal"], "true")

	var pdb policyv1.PodDisruptionBudget
	convert(t, find(t, objs, "PodDisruptionBudget", "keypool-controller-manager"), &pdb)
	check("pdb maxUnavailable", pdb.Spec.MaxUnavailable.IntValue(), 2)

	check("PrometheusRule label", find(t, objs, "PrometheusRule", "keypool-alerts").GetLabels()["release"], "kube-prometheus-stack")
	dash := find(t, objs, "ConfigMap", "keypool-dashboard").GetLabels()
	check("dashboard sidecar label", dash["grafana_dashboard"], "1")
	check("dashboard extra label", dash["grafana_folder"], "llm")
	find(t, objs, "NetworkPolicy", "keypool-allow-metrics-traffic")
	for _, ns := range []string{"team-a", "team-b"} {
		found := false
		for _, o := range objs {
			found = found || (o.GetKind() == "RoleBinding" && o.GetName() == "keypool-manager" && o.GetNamespace() == ns)
		}
		if !found {
			t.Errorf("no RoleBinding keypool-manager in %s", ns)
		}
	}
	for _, absent := range []struct{ kind, name string }{
		{"CustomResourceDefinition", "keypools.llm.keypool.dev"},
		{"ClusterRoleBinding", "keypool-manager-rolebinding"},
		{"ClusterRole", "keypool-keypool-admin-role"},
		{"Service", "keypool-controller-manager-metrics-service"},
		{"ClusterRole", "keypool-metrics-auth-role"},
		// The ServiceMonitor scrapes the metrics endpoint, which is off.
		{"ServiceMonitor", "keypool-controller-manager-metrics-monitor"},
	} {
		if has(objs, absent.kind, absent.name) {
			t.Errorf("%s %s rendered although its value is off", absent.kind, absent.name)
		}
	}
}

// TestCRDIsKeptByDefault: uninstalling the release keeps the CRD, and so
// every KeyPool, unless crd.keep is false.
func TestCRDIsKeptByDefault(t *testing.T) {
	crd := find(t, helmTemplate(t), "CustomResourceDefinition", "keypools.llm.keypool.dev")
	if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Errorf("CRD annotations %v lack helm.sh/resource-policy: keep", crd.GetAnnotations())
	}
	crd = find(t, helmTemplate(t, "--set", "crd.keep=false"), "CustomResourceDefinition", "keypools.llm.keypool.dev")
	if _, ok := crd.GetAnnotations()["helm.sh/resource-policy"]; ok {
		t.Error("crd.keep=false still keeps the CRD")
	}
}

// TestRedisNeedsASecret: redis.enable without redis.existingSecret is an
// error at render time, not a pod that cannot start.
func TestRedisNeedsASecret(t *testing.T) {
	_, err := runErr(tool(t, "helm"), "template", "keypool", chartDir, "--set", "redis.enable=true")
	if err == nil || !strings.Contains(err.Error(), "redis.existingSecret is required") {
		t.Fatalf("helm template with redis.enable and no Secret: %v, want the required-value error", err)
	}
}

func convert(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
		t.Fatal(err)
	}
}
