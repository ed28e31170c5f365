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
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// managerPod is the manager pods' labels.
var managerPod = labels.Set{"control-plane": "controller-manager", "app.kubernetes.io/name": "keypool-operator"}

const (
	proxyContainerPort   = 8080
	metricsContainerPort = 8443
)

// TestNetworkPoliciesLetClientsIn: with networkPolicy.enable the rendered
// policies, evaluated as the API defines them (a pod selected by any
// ingress policy admits only what some rule allows), let the proxy port in
// from every namespace by default, or from the namespaces
// networkPolicy.proxy.namespaceSelector selects, and the metrics port only
// from the metrics scrapers' namespaces (labelled metrics: enabled).
func TestNetworkPoliciesLetClientsIn(t *testing.T) {
	apps := labels.Set{"kubernetes.io/metadata.name": "apps"}
	teamA := labels.Set{"kubernetes.io/metadata.name": "team-a", "llm-clients": "true"}
	scrapers := labels.Set{"kubernetes.io/metadata.name": "monitoring", "metrics": "enabled"}

	def := policies(t, helmTemplate(t, "--set", "networkPolicy.enable=true"))
	for _, c := range []struct {
		what string
		port int
		ns   labels.Set
		want bool
	}{
		{"proxy from any namespace", proxyContainerPort, apps, true},
		{"proxy from the scrapers' namespace", proxyContainerPort, scrapers, true},
		{"metrics from the scrapers", metricsContainerPort, scrapers, true},
		{"metrics from an application namespace", metricsContainerPort, apps, false},
		{"another port", 9999, apps, false},
	} {
		if got := admits(def, c.port, c.ns); got != c.want {
			t.Errorf("default values: %s: admitted %v, want %v", c.what, got, c.want)
		}
	}

	sel := policies(t, helmTemplate(t, "--set", "networkPolicy.enable=true",
		"--set-string", "networkPolicy.proxy.namespaceSelector.matchLabels.llm-clients=true"))
	if !admits(sel, proxyContainerPort, teamA) || admits(sel, proxyContainerPort, apps) {
		t.Errorf("proxy.namespaceSelector llm-clients=true: team-a admitted %v (want true), apps admitted %v (want false)",
			admits(sel, proxyContainerPort, teamA), admits(sel, proxyContainerPort, apps))
	}
	if admits(sel, metricsContainerPort, teamA) {
		t.Error("proxy.namespaceSelector opened the metrics port")
	}
}

// TestEgressPolicyIsOptional: the egress policy renders only with
// networkPolicy.egress.enable, and then allows DNS, the API server, Redis
// and the upstreams at the CIDRs the values give.
func TestEgressPolicyIsOptional(t *testing.T) {
	for _, p := range policies(t, helmTemplate(t, "--set", "networkPolicy.enable=true")) {
		for _, ty := range p.Spec.PolicyTypes {
			if ty == networkingv1.PolicyTypeEgress {
				t.Errorf("%s restricts egress without networkPolicy.egress.enable", p.Name)
			}
		}
	}
	ps := policies(t, helmTemplate(t, "--set", "networkPolicy.enable=true,networkPolicy.egress.enable=true,"+
		"networkPolicy.egress.apiServerCIDRs={10.0.0.1/32},networkPolicy.egress.redisCIDRs={10.1.0.0/24},"+
		"networkPolicy.egress.upstreamCIDRs={203.0.113.0/24}"))
	var egress *networkingv1.NetworkPolicy
	for i := range ps {
		for _, ty := range ps[i].Spec.PolicyTypes {
			if ty == networkingv1.PolicyTypeEgress {
				egress = &ps[i]
			}
		}
	}
	if egress == nil {
		t.Fatal("no egress policy rendered")
	}
	for _, c := range []struct {
		cidr string
		port int
		want bool
	}{
		{"10.0.0.1/32", 443, true}, {"10.0.0.1/32", 6443, true}, {"10.1.0.0/24", 6379, true},
		{"203.0.113.0/24", 443, true}, {"198.51.100.0/24", 443, false}, {"10.1.0.0/24", 443, false},
	} {
		if got := egressAllows(egress, c.cidr, c.port); got != c.want {
			t.Errorf("egress to %s:%d allowed %v, want %v", c.cidr, c.port, got, c.want)
		}
	}
	if !egressAllows(egress, "", 53) {
		t.Error("egress policy blocks DNS")
	}
}

func policies(t *testing.T, objs []*unstructured.Unstructured) []networkingv1.NetworkPolicy {
	t.Helper()
	var out []networkingv1.NetworkPolicy
	for _, o := range objs {
		if o.GetKind() == "NetworkPolicy" {
			var p networkingv1.NetworkPolicy
			convert(t, o, &p)
			out = append(out, p)
		}
	}
	return out
}

// admits reports whether a pod in a namespace labelled ns may reach the
// manager pods' port under ps: with no ingress policy selecting them
// everything may; otherwise only what one of their rules allows.
func admits(ps []networkingv1.NetworkPolicy, port int, ns labels.Set) bool {
	selected := false
	for _, p := range ps {
		if !selects(p.Spec.PodSelector, managerPod) || !hasType(p, networkingv1.PolicyTypeIngress) {
			continue
		}
		selected = true
		for _, r := range p.Spec.Ingress {
			if portMatches(r.Ports, port) && peersMatch(r.From, ns) {
				return true
			}
		}
	}
	return !selected
}

func hasType(p networkingv1.NetworkPolicy, ty networkingv1.PolicyType) bool {
	for _, x := range p.Spec.PolicyTypes {
		if x == ty {
			return true
		}
	}
	return ty == networkingv1.PolicyTypeIngress && len(p.Spec.PolicyTypes) == 0
}

func selects(sel metav1.LabelSelector, l labels.Set) bool {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	return err == nil && s.Matches(l)
}

func portMatches(ports []networkingv1.NetworkPolicyPort, port int) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil || p.Port.IntValue() == port {
			return true
		}
	}
	return false
}

// peersMatch: only namespace selectors are evaluated (the chart's policies
// use no pod selectors or IP blocks for ingress).
func peersMatch(peers []networkingv1.NetworkPolicyPeer, ns labels.Set) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.PodSelector == nil && p.IPBlock == nil && p.NamespaceSelector != nil && selects(*p.NamespaceSelector, ns) {
			return true
		}
	}
	return false
}

// egressAllows reports whether the policy lets the manager pods reach cidr
// (exactly one of the rule's IP blocks; "" for any destination) on port.
func egressAllows(p *networkingv1.NetworkPolicy, cidr string, port int) bool {
	for _, r := range p.Spec.Egress {
		if !portMatches(r.Ports, port) {
			continue
		}
		if len(r.To) == 0 {
			return true
		}
		for _, to := range r.To {
			if cidr != "" && to.IPBlock != nil && to.IPBlock.CIDR == cidr {
				return true
			}
			if cidr == "" && to.NamespaceSelector != nil {
				return true // DNS: the cluster's DNS pods, in their namespace
			}
		}
	}
	return false
}
