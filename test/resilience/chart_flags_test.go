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

package resilience

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/keypool-dev/keypool-operator/internal/redistest"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// TestChartFlagsShareLimits runs the manager with exactly the flags the
// Helm chart renders, as many processes as the chart's replicas, behind
// one front that sends each request to the next manager in turn (as a
// Service spreads clients), at 150% of the pool's capacity: with
// redis.enable=true and two replicas (docs/guides/redis.md) and with the
// defaults (one replica, no Redis), the provider answers at most 1% of the
// requests with 429. Two replicas without Redis, which the chart allows
// but does not default to, get more: the load tells them apart.
func TestChartFlagsShareLimits(t *testing.T) {
	c := getCluster(t)
	for _, tc := range []struct {
		name, set string
		replicas  int32
		redis     bool
		oversends bool
	}{
		{name: "redis-2-replicas", set: "redis.enable=true,redis.existingSecret=keypool-redis,manager.replicas=2",
			replicas: 2, redis: true},
		{name: "default", replicas: 1},
		{name: "no-redis-2-replicas", set: "manager.replicas=2", replicas: 2, oversends: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := renderManager(t, tc.set)
			if *d.Spec.Replicas != tc.replicas {
				t.Fatalf("the chart renders %d replicas, want %d", *d.Spec.Replicas, tc.replicas)
			}
			// What the container's env takes from its pod and Secrets.
			vars := map[string]string{"POD_NAMESPACE": leaseNamespace}
			if tc.redis {
				vars["REDIS_URL"] = redistest.Start(t).URL()
			}
			mode := "chart-" + tc.name
			fake, fakeURL, pool := c.sharedPool(t, mode)
			front := newFront(t)

			ms := make([]*manager, tc.replicas)
			for i := range ms {
				proxyAddr, probeAddr := freeAddr(t), freeAddr(t)
				args := chartArgs(t, d.Spec.Template.Spec.Containers[0].Args, vars, map[string]string{
					"metrics-bind-address":      freeAddr(t),
					"health-probe-bind-address": probeAddr,
					"proxy-bind-address":        proxyAddr,
					"proxy-service-url":         front.URL,
				}, fakeURL)
				if i == 0 {
					t.Logf("manager args: %s", strings.Join(args, " "))
				}
				ms[i] = c.launch(t, fmt.Sprintf("manager-%s-%d", mode, i), proxyAddr, probeAddr, args)
				front.add(t, ms[i].proxyURL)
			}
			for _, m := range ms {
				waitPoolServed(t, m, pool)
			}
			r := measureLoad(t, mode, fake, pool, []string{front.URL}, nil)
			for _, m := range ms {
				m.Stop(10 * time.Second)
				r.outages += strings.Count(m.Output(), "Redis unreachable")
			}
			t.Logf("%d keys at %d RPM, demand %.0f req/s (150%%) through one front, measured %v after a %v warm-up",
				sharedKeys, sharedRPM, sharedDemand, sharedMeasure, sharedWarmup)
			t.Logf("chart --set %q, %d replicas: %s", tc.set, tc.replicas, r)
			checkClients(t, tc.name, r)
			if tc.oversends {
				if s := r.share429(); s <= 0.01 {
					t.Errorf("%.1f%% of upstream requests answered 429, want > 1%%: the load does not tell "+
						"per-replica limits from shared ones", 100*s)
				}
				return
			}
			checkShared(t, tc.name, r)
		})
	}
}

// renderManager renders dist/chart with `helm template --set set` and
// returns the manager's Deployment.
func renderManager(t *testing.T, set string) *appsv1.Deployment {
	t.Helper()
	args := []string{"template", "keypool", filepath.Join(testenv.RepoRoot(), "dist", "chart"),
		"--namespace", leaseNamespace}
	if set != "" {
		args = append(args, "--set", set)
	}
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "helm"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var d appsv1.Deployment
		if err := dec.Decode(&d); err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatal("the chart renders no manager Deployment")
			}
			t.Fatal(err)
		}
		if d.Kind == "Deployment" && d.Name == "keypool-controller-manager" {
			return &d
		}
	}
}

// chartArgs is what the manager gets from the rendered args: $(VAR)
// expanded from vars as the kubelet does, the flags in local set to the
// test's own values (ports, the front's URL), and the test's fake provider
// allowed besides the chart's upstreams. Out of a cluster the manager
// cannot read its namespace from the service account, so --leader-elect
// gets the Lease's namespace as a flag.
func chartArgs(t *testing.T, args []string, vars, local map[string]string, upstream string) []string {
	t.Helper()
	var out []string
	replaced := map[string]bool{}
	for _, a := range args {
		for k, v := range vars {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		if strings.Contains(a, "$(") {
			t.Fatalf("%s: a variable the test does not set", a)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if v, ok := local[name]; ok {
			a, replaced[name] = "--"+name+"="+v, true
		}
		switch name {
		case "allowed-upstreams":
			a += "," + upstream
		case "leader-elect":
			out = append(out, "--leader-election-namespace="+leaseNamespace)
		}
		out = append(out, a)
	}
	for name := range local {
		if !replaced[name] {
			t.Fatalf("the chart no longer passes --%s: two managers on one host would share its default", name)
		}
	}
	return out
}

// front is the one address clients use: a reverse proxy that sends each
// request to the next manager in turn.
type front struct {
	*httptest.Server
	targets atomic.Pointer[[]*url.URL]
	next    atomic.Uint64
}

func newFront(t *testing.T) *front {
	t.Helper()
	f := &front{}
	f.targets.Store(&[]*url.URL{})
	f.Server = httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		ts := *f.targets.Load()
		r.SetURL(ts[f.next.Add(1)%uint64(len(ts))])
	}})
	t.Cleanup(f.Close)
	return f
}

// add puts a manager's proxy behind the front.
func (f *front) add(t *testing.T, proxyURL string) {
	t.Helper()
	u, err := url.Parse(proxyURL)
	if err != nil {
		t.Fatal(err)
	}
	ts := append(append([]*url.URL{}, *f.targets.Load()...), u)
	f.targets.Store(&ts)
}
