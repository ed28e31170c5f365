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

package main

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// prefix and namespace are config/default's namePrefix and namespace. The
// chart keeps the names (the proxy URL, the RoleBindings and the docs name
// them) and installs into the release's namespace.
const (
	prefix    = "keypool-"
	namespace = "keypool-system"
	proxyPort = 8080
)

//go:embed all:static
var static embed.FS

// tpl is the template text spliced in at the sentinels.
var tpl = templates{
	inline: map[string]string{
		"namespace":        "{{ $.Release.Namespace }}",
		"managedBy":        "{{ $.Release.Service }}",
		"chart":            `{{ include "keypool.chart" $ }}`,
		"instance":         "{{ $.Release.Name }}",
		"replicas":         "{{ $.Values.manager.replicas }}",
		"image":            `"{{ $.Values.manager.image.repository }}:{{ $.Values.manager.image.tag | default $.Chart.AppVersion }}"`,
		"allowedUpstreams": `{{ join "," $.Values.manager.allowedUpstreams }}`,
		"proxyPort":        "{{ $.Values.proxy.service.port }}",
		"proxyType":        "{{ $.Values.proxy.service.type }}",
		"maxUnavailable":   "{{ $.Values.pdb.maxUnavailable }}",
		"proxyPeers":       "{{ toJson $.Values.networkPolicy.proxy.namespaceSelector }}",
		"metricsPeers":     "{{ toJson $.Values.networkPolicy.metrics.namespaceSelector }}",
		"apiServerTo":      ipBlocks("apiServerCIDRs"),
		"redisTo":          ipBlocks("redisCIDRs"),
		"upstreamTo":       ipBlocks("upstreamCIDRs"),
	},
	block: map[string]string{
		"leaderElect": "{{- if $.Values.manager.leaderElection.enable }}\n- --leader-elect\n{{- end }}",
		"metricsAddr": "{{- if $.Values.metrics.enable }}\n- --metrics-bind-address=:8443\n{{- end }}",
		"watchNamespaces": "{{- if $.Values.namespaced.enable }}\n" +
			`- --watch-namespaces={{ join "," $.Values.namespaced.namespaces }}` + "\n{{- end }}",
		"redisArgs": "{{- if $.Values.redis.enable }}\n- --redis-url=$(REDIS_URL)\n" +
			"- --redis-mode={{ $.Values.redis.mode }}\n" +
			"- --replicas={{ $.Values.manager.replicas }}\n" +
			"{{- with $.Values.redis.caSecret }}\n- --redis-ca-file=" + redisCADir + "/{{ $.Values.redis.caKey }}\n{{- end }}\n" +
			"{{- end }}",
		"redisVolumes": "{{- if and $.Values.redis.enable $.Values.redis.caSecret }}\n" +
			"- name: redis-ca\n  secret:\n    secretName: {{ $.Values.redis.caSecret }}\n{{- end }}",
		"redisMounts": "{{- if and $.Values.redis.enable $.Values.redis.caSecret }}\n" +
			"- name: redis-ca\n  mountPath: " + redisCADir + "\n  readOnly: true\n{{- end }}",
		"extraArgs": "{{- range $.Values.manager.extraArgs }}\n- {{ . | quote }}\n{{- end }}",
		"redisEnv": "{{- if $.Values.redis.enable }}\n" +
			"- name: REDIS_URL\n  valueFrom:\n    secretKeyRef:\n" +
			"      name: {{ required \"redis.existingSecret is required with redis.enable\" $.Values.redis.existingSecret }}\n" +
			"      key: {{ $.Values.redis.urlKey }}\n" +
			"- name: REDIS_PASSWORD\n  valueFrom:\n    secretKeyRef:\n" +
			"      name: {{ $.Values.redis.existingSecret }}\n      key: {{ $.Values.redis.passwordKey }}\n      optional: true\n" +
			"{{- end }}",
		"extraEnv":         "{{- with $.Values.manager.env }}\n{{- toYaml . | nindent %I% }}\n{{- end }}",
		"pullPolicy":       "{{- with $.Values.manager.image.pullPolicy }}\nimagePullPolicy: {{ . }}\n{{- end }}",
		"resources":        "resources:\n  {{- toYaml $.Values.manager.resources | nindent %N% }}",
		"nodeSelector":     optionalBlock("nodeSelector", "$.Values.manager.nodeSelector"),
		"affinity":         optionalBlock("affinity", "$.Values.manager.affinity"),
		"tolerations":      optionalBlock("tolerations", "$.Values.manager.tolerations"),
		"imagePullSecrets": optionalBlock("imagePullSecrets", "$.Values.manager.imagePullSecrets"),
		"podAnnotations":   "{{- with $.Values.manager.podAnnotations }}\n{{- toYaml . | nindent %I% }}\n{{- end }}",
		"serviceAnnotations": "{{- with $.Values.proxy.service.annotations }}\nannotations:\n" +
			"  {{- toYaml . | nindent %N% }}\n{{- end }}",
		"crdKeep":         "{{- if $.Values.crd.keep }}\nhelm.sh/resource-policy: keep\n{{- end }}",
		"dashboardLabels": "{{- with $.Values.grafana.dashboard.labels }}\n{{- toYaml . | nindent %I% }}\n{{- end }}",
		"rulesLabels":     "{{- with $.Values.prometheus.rules.labels }}\n{{- toYaml . | nindent %I% }}\n{{- end }}",
		"monitorLabels":   "{{- with $.Values.prometheus.serviceMonitor.labels }}\n{{- toYaml . | nindent %I% }}\n{{- end }}",
	},
}

// redisCADir is where the chart mounts the Secret holding Redis's CA bundle,
// as config/components/redis-ca does.
const redisCADir = "/etc/keypool/redis-ca"

// ipBlocks writes the egress peers of the CIDRs of a value as a flow list;
// an empty list fails the render, as "to: []" would allow every address.
func ipBlocks(value string) string {
	v := "$.Values.networkPolicy.egress." + value
	return "{{ if not " + v + " }}{{ fail \"networkPolicy.egress." + value + " must list at least one CIDR\" }}{{ end }}" +
		"[{{ range $i, $c := " + v + " }}{{ if $i }}, {{ end }}{ipBlock: {cidr: {{ $c | quote }}}}{{ end }}]"
}

// optionalBlock writes key: <value> only when the value is not empty.
func optionalBlock(key, value string) string {
	return "{{- with " + value + " }}\n" + key + ":\n  {{- toYaml . | nindent %N% }}\n{{- end }}"
}

// placement says where an object's template goes and when it renders.
type placement struct {
	path string
	cond string
	edit func(object) error
}

// place returns the placement of a built object; ok is false for objects
// the chart leaves out (the Namespace: Helm installs into the release's).
func place(o object) (placement, bool, error) {
	kind, name := kindName(o)
	short := strings.TrimPrefix(name, prefix)
	switch kind {
	case "Namespace":
		return placement{}, false, nil
	case "CustomResourceDefinition":
		return placement{path: "crd/" + name + ".yaml", cond: "$.Values.crd.enable", edit: func(o object) error {
			mapAt(meta(o), "annotations")[blk("crdKeep")] = ""
			return nil
		}}, true, nil
	case "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
		p := placement{path: "rbac/" + short + ".yaml"}
		switch {
		case kind == "ClusterRoleBinding" && short == "manager-rolebinding":
			p.cond = "not $.Values.namespaced.enable"
		case strings.HasPrefix(short, "metrics-"):
			p.cond = "$.Values.metrics.enable"
		case strings.HasPrefix(short, "keypool-"):
			p.cond = "$.Values.rbacHelpers.enable"
		}
		return p, true, nil
	case "Deployment":
		return placement{path: "manager/manager.yaml", edit: editDeployment}, true, nil
	case "PodDisruptionBudget":
		return placement{path: "manager/pdb.yaml", cond: "$.Values.pdb.enable", edit: func(o object) error {
			spec := mapAt(o, "spec")
			if _, ok := spec["maxUnavailable"]; !ok {
				return errors.New("PodDisruptionBudget has no maxUnavailable to template")
			}
			spec["maxUnavailable"] = inl("maxUnavailable")
			return nil
		}}, true, nil
	case "Service":
		if short == "proxy" {
			return placement{path: "proxy/proxy-service.yaml", edit: editProxyService}, true, nil
		}
		return placement{path: "metrics/" + short + ".yaml", cond: "$.Values.metrics.enable"}, true, nil
	case "ServiceMonitor":
		return placement{path: "prometheus/monitor.yaml",
			cond: "and $.Values.metrics.enable $.Values.prometheus.serviceMonitor.enable",
			edit: extraLabels("monitorLabels")}, true, nil
	case "PrometheusRule":
		return placement{path: "prometheus/rules.yaml", cond: "$.Values.prometheus.rules.enable",
			edit: extraLabels("rulesLabels")}, true, nil
	case "NetworkPolicy":
		return placeNetworkPolicy(short)
	case "ConfigMap":
		return placement{path: "grafana/" + short + ".yaml", cond: "$.Values.grafana.dashboard.enable",
			edit: extraLabels("dashboardLabels")}, true, nil
	}
	return placement{}, false, fmt.Errorf("no place in the chart for %s %s: add one in hack/helmchart", kind, name)
}

// extraLabels adds the labels of a value (say, a Prometheus's ruleSelector).
func extraLabels(block string) func(object) error {
	return func(o object) error {
		mapAt(meta(o), "labels")[blk(block)] = ""
		return nil
	}
}

// common applies what every object gets: the release's namespace (also in
// RBAC subjects) and Helm's labels.
func common(o object) {
	m := meta(o)
	if _, ok := m["namespace"]; ok {
		m["namespace"] = inl("namespace")
	}
	if subjects, ok := o["subjects"].([]any); ok {
		for _, s := range subjects {
			if s, ok := s.(map[string]any); ok && s["namespace"] == namespace {
				s["namespace"] = inl("namespace")
			}
		}
	}
	labels := mapAt(m, "labels")
	labels["app.kubernetes.io/managed-by"] = inl("managedBy")
	labels["helm.sh/chart"] = inl("chart")
	labels["app.kubernetes.io/instance"] = inl("instance")
}

// values are the defaults values.yaml takes from the kustomize tree.
type values struct {
	Replicas         any
	Repository       string
	Resources        string
	AllowedUpstreams []string
}

// generate writes the chart into out.
func generate(root, out string, kustomize []string) error {
	var objs []object
	for _, dir := range []string{"default", "prometheus", "network-policy", "network-policy-egress", "grafana"} {
		built, err := build(kustomize, root, dir)
		if err != nil {
			return err
		}
		if dir != "default" {
			// These are added to config/default's resources by hand; give
			// them its prefix and namespace as it would.
			for _, o := range built {
				m := meta(o)
				m["name"] = prefix + m["name"].(string)
				m["namespace"] = namespace
			}
		}
		objs = append(objs, built...)
	}
	files := map[string]string{}
	var vals values
	for _, o := range objs {
		p, ok, err := place(o)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if kind, _ := kindName(o); kind == "Deployment" {
			if vals, err = defaults(o); err != nil {
				return err
			}
		}
		if p.edit != nil {
			if err := p.edit(o); err != nil {
				return err
			}
		}
		common(o)
		text, err := tpl.render(o, p.cond)
		if err != nil {
			kind, name := kindName(o)
			return fmt.Errorf("%s %s: %w", kind, name, err)
		}
		if _, dup := files[p.path]; dup {
			return fmt.Errorf("two objects for %s", p.path)
		}
		files[p.path] = text
	}
	bindings, err := namespacedBindings(kustomize, root)
	if err != nil {
		return err
	}
	files["rbac/namespaced-rolebindings.yaml"] = bindings
	return write(out, files, vals)
}

// namespacedBindings templates config/namespaced's RoleBinding of one
// watched namespace into one per namespace of namespaced.namespaces.
func namespacedBindings(kustomize []string, root string) (string, error) {
	objs, err := build(kustomize, root, "namespaced")
	if err != nil {
		return "", err
	}
	for _, o := range objs {
		kind, name := kindName(o)
		if kind != "RoleBinding" || name != prefix+"manager" {
			continue
		}
		common(o)
		meta(o)["namespace"] = inl("watched")
		t := tpl
		t.inline = map[string]string{"watched": "{{ $watched }}"}
		for k, v := range tpl.inline {
			t.inline[k] = v
		}
		text, err := t.render(o, "")
		if err != nil {
			return "", fmt.Errorf("namespaced RoleBinding: %w", err)
		}
		return "{{- if $.Values.namespaced.enable }}\n{{- range $watched := $.Values.namespaced.namespaces }}\n---\n" +
			text + "{{- end }}\n{{- end }}\n", nil
	}
	return "", fmt.Errorf("config/namespaced has no RoleBinding %smanager", prefix)
}

// write replaces out with the static files, values.yaml and the templates.
func write(out string, files map[string]string, vals values) error {
	if err := os.RemoveAll(out); err != nil {
		return fmt.Errorf("clearing %s: %w", out, err)
	}
	err := fs.WalkDir(static, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(path)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(path, "static/")
		if strings.HasSuffix(rel, ".gotmpl") {
			t, err := template.New(rel).Delims("[[", "]]").Parse(string(data))
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			var b strings.Builder
			if err := t.Execute(&b, vals); err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			rel, data = strings.TrimSuffix(rel, ".gotmpl"), []byte(b.String())
		}
		return writeFile(filepath.Join(out, rel), data)
	})
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := writeFile(filepath.Join(out, "templates", p), []byte(files[p])); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// toYAML indents a value's YAML for values.yaml.
func toYAML(v any, indent string) (string, error) {
	raw, err := yaml.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("marshal: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	return indent + strings.Join(lines, "\n"+indent), nil
}
