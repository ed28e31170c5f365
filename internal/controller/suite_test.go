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
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/go-logr/zerologr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	corev1 "k8s.io/api/core/v1"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// testStatusInterval is short so tests see statistics soon; the bound on
// writes is checked against it.
const testStatusInterval = 500 * time.Millisecond

var (
	env *envtest.Environment
	k8s client.Client // the manager's client: reads from its cache
	// apiClient reads straight from the API server, whatever the manager's
	// cache watches.
	apiClient client.Client
	registry  *keypool.Registry
	publisher *StatusPublisher
	// proxyURL is a real proxy over registry; its metrics are in proxyMetrics.
	proxyURL     string
	proxyMetrics *prometheus.Registry
	// fakeURL is the fake provider, an allowed upstream; it accepts the keys
	// in fakeKeys.
	fakeURL string
)

// fakeKeys are the key values the suite's fake provider accepts.
var fakeKeys = []string{"sk-a", "sk-b"}

// TestMain runs the controller and the status publisher in a manager against
// a real kube-apiserver for the whole package.
func TestMain(m *testing.M) {
	zl := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.InfoLevel)
	logf.SetLogger(zerologr.New(&zl))
	var cfg *rest.Config
	var err error
	env, cfg, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keys := make([]fakeprovider.Key, len(fakeKeys))
	for i, k := range fakeKeys {
		keys[i] = fakeprovider.Key{Key: k}
	}
	fake := httptest.NewServer(fakeprovider.New(fakeprovider.Config{Keys: keys}))
	fakeURL = fake.URL
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	code := 1
	if err = startManager(ctx, cfg, done); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	cancel()
	if err == nil {
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
			code = 1
		}
	}
	fake.Close()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

func startManager(ctx context.Context, cfg *rest.Config, done chan<- error) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  suiteCacheOptions(),
		Client: client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.Secret{}},
		}},
	})
	if err != nil {
		return err
	}
	k8s = mgr.GetClient()
	if apiClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		return err
	}
	registry = keypool.NewRegistry()
	publisher = NewStatusPublisher(mgr.GetClient(), mgr.GetEventRecorder("keypool-controller"), registry,
		testStatusInterval, ctrl.Log.WithName("status"))
	if err := mgr.Add(publisher); err != nil {
		return err
	}
	allowed, err := ParseAllowedUpstreams(DefaultAllowedUpstreams + "," + fakeURL)
	if err != nil {
		return err
	}
	proxyMetrics = prometheus.NewRegistry()
	proxySrv := proxy.New(registry, proxy.Options{Logger: ctrl.Log.WithName("proxy"), Metrics: proxyMetrics})
	proxyHTTP := httptest.NewServer(proxySrv)
	go func() {
		<-ctx.Done()
		proxyHTTP.Close()
	}()
	proxyURL = proxyHTTP.URL
	if err := (&KeyPoolReconciler{
		Client:           mgr.GetClient(),
		APIReader:        mgr.GetAPIReader(),
		Registry:         registry,
		Publisher:        publisher,
		ProxyServiceURL:  "http://keypool-proxy.keypool-system.svc:8080",
		AllowedUpstreams: allowed,
		OnDelete:         proxySrv.ForgetPool,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}
	return nil
}

// suiteCacheOptions is the manager's cluster-wide cache, except for the
// namespaces TestNamespacedModeRunsWithRoleBindingsOnly leaves to its own
// namespaced manager.
func suiteCacheOptions() cache.Options {
	opts := CacheOptions(nil)
	sel := make([]fields.Selector, len(namespacedTestNamespaces))
	for i, ns := range namespacedTestNamespaces {
		sel[i] = fields.OneTermNotEqualSelector("metadata.namespace", ns)
	}
	opts.DefaultFieldSelector = fields.AndSelectors(sel...)
	return opts
}
