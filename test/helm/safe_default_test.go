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
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestDefaultInstallDoesNotOversend: the default install (chart and
// config/default) runs without Redis, so it runs one replica: two
// replicas without Redis each believe they own every key's whole limit and
// send up to twice it (24.7% upstream 429s at 150% demand, measured). Its
// PodDisruptionBudget still lets a node drain evict that one replica. With
// Redis the chart passes --replicas equal to the Deployment's.
func TestDefaultInstallDoesNotOversend(t *testing.T) {
	check := func(t *testing.T, d *appsv1.Deployment, pdb *policyv1.PodDisruptionBudget) {
		t.Helper()
		args := d.Spec.Template.Spec.Containers[0].Args
		redis := slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--redis-url") })
		if !redis && *d.Spec.Replicas != 1 {
			t.Errorf("%d replicas without --redis-url: each would send every key's whole limit", *d.Spec.Replicas)
		}
		if pdb != nil && !drainable(pdb, *d.Spec.Replicas) {
			t.Errorf("PodDisruptionBudget %+v blocks every eviction of %d replicas", pdb.Spec, *d.Spec.Replicas)
		}
	}
	t.Run("chart", func(t *testing.T) {
		d, pdb := managerAndPDB(t, helmTemplate(t))
		check(t, d, pdb)
	})
	t.Run("config/default", func(t *testing.T) {
		d, pdb := managerAndPDB(t, kustomize(t, "default"))
		check(t, d, pdb)
	})
	t.Run("chart with redis", func(t *testing.T) {
		d, _ := managerAndPDB(t, helmTemplate(t, "--set", "redis.enable=true,redis.existingSecret=r,manager.replicas=3"))
		if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--replicas=3") {
			t.Errorf("args %v, want --replicas=3", d.Spec.Template.Spec.Containers[0].Args)
		}
	})
}

func managerAndPDB(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, *policyv1.PodDisruptionBudget) {
	t.Helper()
	var d appsv1.Deployment
	convert(t, find(t, objs, "Deployment", "keypool-controller-manager"), &d)
	if !has(objs, "PodDisruptionBudget", "keypool-controller-manager") {
		return &d, nil
	}
	var pdb policyv1.PodDisruptionBudget
	convert(t, find(t, objs, "PodDisruptionBudget", "keypool-controller-manager"), &pdb)
	return &d, &pdb
}

// drainable reports whether pdb allows evicting one of replicas healthy pods.
func drainable(pdb *policyv1.PodDisruptionBudget, replicas int32) bool {
	n := int(replicas)
	if v := pdb.Spec.MaxUnavailable; v != nil {
		u, err := intstr.GetScaledValueFromIntOrPercent(v, n, true)
		return err == nil && u >= 1
	}
	if v := pdb.Spec.MinAvailable; v != nil {
		m, err := intstr.GetScaledValueFromIntOrPercent(v, n, true)
		return err == nil && m < n
	}
	return true
}
