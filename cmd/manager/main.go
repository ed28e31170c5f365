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

// Command manager runs the keypool-operator: the KeyPool controller, the
// status publisher and the embedded proxy, under one controller-runtime
// manager. It only wires; the behaviour lives in internal/.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zerologr"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/controller"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/memlimit"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
	"github.com/keypool-dev/keypool-operator/internal/telemetry"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(llmv1alpha1.AddToScheme(scheme))
	// +kubebuilder:scaffold:scheme
}

func main() {
	var (
		metricsAddr, probeAddr, proxyAddr, proxyServiceURL string
		logLevel, logFormat, leaderElectionNamespace       string
		allowedUpstreams, watchNamespaces                  string
		enableLeaderElection, secureMetrics, enableHTTP2   bool
		statusInterval, shutdownGrace                      time.Duration
		redisOpts                                          controller.SharedLimitsOptions
		proxyOpts                                          proxy.Options
		maxQueuedPerPool                                   int
	)
	var objectIDSecretFile string
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8082 for HTTP (the proxy has :8080), or leave as 0 to disable the metrics service.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Elect one replica to write KeyPool status and Events; every replica builds the pools and serves the proxy.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader-election Lease; defaults to the pod's namespace in a cluster (required outside one).")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"If set, the metrics endpoint is served securely via HTTPS. Use --metrics-secure=false to use HTTP instead.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"If set, HTTP/2 will be enabled for the metrics server")
	flag.StringVar(&proxyAddr, "proxy-bind-address", ":8080", "The address the key-pool proxy binds to.")
	flag.StringVar(&proxyServiceURL, "proxy-service-url", "http://keypool-proxy.keypool-system.svc:8080",
		"The proxy's base URL as clients reach it; each KeyPool's status.endpoint is this plus /pools/<ns>/<name>.")
	flag.DurationVar(&statusInterval, "status-interval", 10*time.Second,
		"How often at most each KeyPool's status is written with the pool's live statistics.")
	flag.DurationVar(&shutdownGrace, "shutdown-grace", 90*time.Second,
		"How long in-flight proxy requests and streams may run on after shutdown begins.")
	bindProxyLimits(flag.CommandLine, &proxyOpts, &maxQueuedPerPool)
	flag.StringVar(&allowedUpstreams, "allowed-upstreams", controller.DefaultAllowedUpstreams,
		"Comma-separated origins (scheme://host[:port]) KeyPools may use as upstream; any path below one is allowed. "+
			"A KeyPool with another upstream is not served (Ready=False, UpstreamNotAllowed).")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "",
		"Comma-separated namespaces whose KeyPools and Secrets the manager serves, with RoleBindings there only; "+
			"empty: the whole cluster (needs the ClusterRoleBinding).")
	flag.StringVar(&logLevel, "log-level", "info", "Log level: debug, info, warn or error.")
	flag.StringVar(&logFormat, "log-format", "json", "Log format: json or console.")
	bindRedisFlags(flag.CommandLine, &redisOpts)
	flag.StringVar(&objectIDSecretFile, "object-id-secret-file", "", "File holding the secret (32 bytes or more) "+
		"that seals the object IDs clients get (files, batches, stored responses); every replica must read the same. "+
		"Empty or absent: the object APIs are refused.")
	flag.Parse()

	log := newLogger(logLevel, logFormat)
	ctrl.SetLogger(log)
	setupLog := log.WithName("setup")
	if limit, source, err := memlimit.Apply(memlimit.CgroupRoot); err != nil {
		setupLog.Error(err, "unable to read the container's memory limit; the Go heap has no soft limit")
	} else {
		setupLog.Info("Go memory limit", "bytes", limit, "source", source)
	}

	// HTTP/2 stays off for the metrics server unless asked for, because of the
	// HTTP/2 Stream Cancellation and Rapid Reset CVEs.
	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, TLSOpts: tlsOpts}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	allowed, err := controller.ParseAllowedUpstreams(allowedUpstreams)
	if err != nil {
		setupLog.Error(err, "invalid --allowed-upstreams")
		os.Exit(1)
	}
	namespaces := splitList(watchNamespaces)

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOpts,
		HealthProbeBindAddress: probeAddr,
		// No manager-wide leader election: every replica builds the pools
		// and serves the proxy, and the status publisher elects its own
		// leader (controller-runtime's would end the whole manager, proxy
		// included, when the API server is out for ten seconds).
		// Only labeled Secrets are watched, their metadata stripped of what
		// can carry values; with --watch-namespaces, only those namespaces.
		Cache: controller.CacheOptions(namespaces),
		// The manager waits for the proxy's own grace, and a little more.
		GracefulShutdownTimeout: ptr.To(shutdownGrace + 10*time.Second),
		Client: client.Options{Cache: &client.CacheOptions{
			// Secret values are read straight from the API server when a pool
			// is (re)built and never held in the informer cache; Secrets are
			// watched by metadata only.
			DisableFor: []client.Object{&corev1.Secret{}},
		}},
	})
	if err != nil {
		setupLog.Error(err, "unable to create manager")
		os.Exit(1)
	}

	registry := keypool.NewRegistry()
	publisher := controller.NewStatusPublisher(mgr.GetClient(), mgr.GetEventRecorder("keypool-controller"),
		registry, statusInterval, log.WithName("status"))
	if enableLeaderElection {
		clientset, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			setupLog.Error(err, "unable to create a client for leader election")
			os.Exit(1)
		}
		publisher.ElectLeader(&controller.LeaderElection{
			Client:    clientset,
			Namespace: leaderElectionNamespace,
			Name:      "keypool-operator.llm.keypool.dev",
		})
	}
	if err := mgr.Add(publisher); err != nil {
		setupLog.Error(err, "unable to add status publisher")
		os.Exit(1)
	}
	var shared *controller.SharedLimits
	if redisOpts.URL != "" {
		redisOpts.Password = os.Getenv("REDIS_PASSWORD")
		redisOpts.PoolSize = redisPoolSize(redisOpts.PoolSize, proxyOpts.MaxInFlight)
		shared, err = controller.NewSharedLimits(redisOpts, publisher, log.WithName("shared-limits"))
		if err != nil {
			setupLog.Error(err, "unable to set up shared limits")
			os.Exit(1)
		}
		defer func() { _ = shared.Close() }()
		publisher.UseSharedLimits(shared)
		setupLog.Info("limits shared through Redis", "mode", redisOpts.Mode, "replicas", redisOpts.Replicas,
			"poolSize", redisOpts.PoolSize, "degraded", shared.Degraded())
	}
	proxyOpts.Addr = proxyAddr
	proxyOpts.Logger = log.WithName("proxy")
	proxyOpts.ShutdownGrace = shutdownGrace
	proxyOpts.ObjectIDs = mustObjectSealer(setupLog, objectIDSecretFile)
	// Spans and GenAI histograms only when OTEL_EXPORTER_OTLP_* asks for them.
	otelProviders, err := telemetry.FromEnv(context.Background())
	if err != nil {
		setupLog.Error(err, "unable to set up OpenTelemetry export")
		os.Exit(1)
	}
	if otelProviders != nil {
		if proxyOpts.GenAI, err = proxy.NewGenAI(otelProviders.Tracer, otelProviders.Meter); err != nil {
			setupLog.Error(err, "unable to set up GenAI telemetry")
			os.Exit(1)
		}
		defer func() { _ = otelProviders.Shutdown(context.Background()) }()
		setupLog.Info("exporting OpenTelemetry", "traces", otelProviders.Tracer != nil, "metrics", otelProviders.Meter != nil)
	}
	proxyServer := proxy.New(registry, proxyOpts)
	if err := mgr.Add(proxyServer); err != nil {
		setupLog.Error(err, "unable to add proxy")
		os.Exit(1)
	}
	reconciler := &controller.KeyPoolReconciler{
		Client:           mgr.GetClient(),
		APIReader:        mgr.GetAPIReader(),
		Registry:         registry,
		Publisher:        publisher,
		ProxyServiceURL:  proxyServiceURL,
		AllowedUpstreams: allowed,
		SharedLimits:     shared,
		MaxQueuedPerPool: maxQueuedPerPool,
		// A deleted pool's metric series go with it.
		OnDelete: proxyServer.ForgetPool,
	}
	if err := reconciler.SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "unable to create controller", "controller", "KeyPool")
		os.Exit(1)
	}
	// +kubebuilder:scaffold:builder

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("proxy", proxyServer.Ready); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		os.Exit(1)
	}
	// Not ready before the pools that exist are built: no refused requests after a restart.
	if err := mgr.AddReadyzCheck("pools", reconciler.Ready); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("starting manager", "allowedUpstreams", allowedUpstreams, "watchNamespaces", watchNamespaces)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "problem running manager")
		os.Exit(1)
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// newLogger returns a logr.Logger backed by zerolog. logr's V(1) is zerolog's
// debug level.
func newLogger(level, format string) logr.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	zerologr.VerbosityFieldName = ""
	var zl zerolog.Logger
	if format == "console" {
		zl = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339})
	} else {
		zl = zerolog.New(os.Stderr)
	}
	zl = zl.Level(lvl).With().Timestamp().Logger()
	return zerologr.New(&zl)
}
