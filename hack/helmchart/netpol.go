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

import "fmt"

// placeNetworkPolicy places config/network-policy's and
// config/network-policy-egress's policies: the ingress ones with the
// namespaces they admit from values, the egress one (optional) with its
// CIDRs from values.
func placeNetworkPolicy(short string) (placement, bool, error) {
	const cond = "$.Values.networkPolicy.enable"
	path := "network-policy/" + short + ".yaml"
	switch short {
	case "allow-proxy-traffic":
		return placement{path: path, cond: cond, edit: ingressFrom("proxyPeers")}, true, nil
	case "allow-metrics-traffic":
		return placement{path: path, cond: cond, edit: ingressFrom("metricsPeers")}, true, nil
	case "allow-egress":
		return placement{path: path, cond: "and " + cond + " $.Values.networkPolicy.egress.enable", edit: egressTo}, true, nil
	}
	return placement{}, false, fmt.Errorf("no place in the chart for NetworkPolicy %s: add one in hack/helmchart", short)
}

// ingressFrom templates the namespaceSelector of a policy's one ingress peer.
func ingressFrom(name string) func(object) error {
	return func(o object) error {
		rules, _ := mapAt(o, "spec")["ingress"].([]any)
		if len(rules) != 1 {
			return fmt.Errorf("NetworkPolicy has %d ingress rules, want 1", len(rules))
		}
		from, _ := rules[0].(map[string]any)["from"].([]any)
		if len(from) != 1 {
			return fmt.Errorf("NetworkPolicy ingress rule has %d peers, want 1", len(from))
		}
		from[0].(map[string]any)["namespaceSelector"] = inl(name)
		return nil
	}
}

// egressTo templates the IP blocks of the egress rules after DNS's: the API
// server, Redis and the upstreams, in that order.
func egressTo(o object) error {
	rules, _ := mapAt(o, "spec")["egress"].([]any)
	names := []string{"", "apiServerTo", "redisTo", "upstreamTo"}
	if len(rules) != len(names) {
		return fmt.Errorf("egress NetworkPolicy has %d rules, want %d (DNS, API server, Redis, upstreams)", len(rules), len(names))
	}
	for i, name := range names[1:] {
		rules[i+1].(map[string]any)["to"] = inl(name)
	}
	return nil
}
