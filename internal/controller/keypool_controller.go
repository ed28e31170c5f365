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

// Package controller turns KeyPool resources and the Secrets they name into
// live pools in a keypool.Registry, and writes what the pools see back to the
// KeyPools' status.
package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// secretNameIndex indexes KeyPools by the names of the Secrets they use, so
// that a Secret change reconciles exactly the pools that use it.
const secretNameIndex = ".spec.secretNames"

// KeyPoolReconciler builds and updates the live pool of each KeyPool.
//
// It runs on every replica (each replica's proxy needs the pools); the
// StatusPublisher, which runs on the leader only, writes status and Events.
type KeyPoolReconciler struct {
	client.Client
	// APIReader reads Secrets straight from the API server: Secret values are
	// never cached, and only read when a pool is (re)built.
	APIReader client.Reader
	Registry  *keypool.Registry
	Publisher *StatusPublisher
	// ProxyServiceURL is the proxy's base URL as clients reach it.
	ProxyServiceURL string
	// MaxQueuedPerPool bounds each pool's requests waiting for capacity
	// (keypool.PoolConfig.MaxWaiters); 0 means keypool's default.
	MaxQueuedPerPool int
	// AllowedUpstreams are the origins pools may send keys to; nil allows
	// DefaultAllowedUpstreams.
	AllowedUpstreams *UpstreamAllowlist
	// OnDelete, if set, is called once a deleted KeyPool's pool is removed,
	// so that what others keep per pool (the proxy's metric series) goes too.
	OnDelete func(namespace, name string)
	// SharedLimits shares the pools' limits among replicas; nil: local.
	SharedLimits *SharedLimits

	sync initialSync
}

// +kubebuilder:rbac:groups=llm.keypool.dev,resources=keypools,verbs=get;list;watch
// +kubebuilder:rbac:groups=llm.keypool.dev,resources=keypools/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile builds or updates the KeyPool's pool from its Secrets, or removes
// the pool when the KeyPool is gone.
func (r *KeyPoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, err error) {
	log := logf.FromContext(ctx)
	defer func() {
		if err == nil {
			r.sync.markReconciled(req.NamespacedName)
		}
	}()

	var kp llmv1alpha1.KeyPool
	if err := r.Get(ctx, req.NamespacedName, &kp); err != nil {
		if apierrors.IsNotFound(err) {
			r.remove(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting keypool: %w", err)
	}
	if !kp.DeletionTimestamp.IsZero() {
		r.remove(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	cfg, problems, err := loadPoolConfig(ctx, r.APIReader, &kp, r.allowedUpstreams())
	if err != nil {
		return ctrl.Result{}, err
	}
	cfg.OnTransition = r.Publisher.transitionRecorder(req.NamespacedName)
	cfg.MaxWaiters = r.MaxQueuedPerPool
	r.Publisher.track(req.NamespacedName)
	cfg.NewLimiter = r.SharedLimits.factory(req.NamespacedName)
	cfg.Budgets = r.SharedLimits.budgets(req.NamespacedName)

	if err := r.apply(&kp, cfg); err != nil {
		problems = append(problems, problem{reason: llmv1alpha1.ReasonInvalidConfig, message: err.Error()})
	}
	log.V(1).Info("pool reconciled", "keys", len(cfg.Keys), "problems", len(problems))
	rep := report{
		generation: kp.Generation,
		endpoint:   fmt.Sprintf("%s/pools/%s/%s", r.ProxyServiceURL, kp.Namespace, kp.Name),
		problems:   problems,
	}
	if u := cfg.Access.Upstream; u != nil {
		// Redacted: a URL's user info would be a credential in status.
		rep.upstream = u.Redacted()
	}
	r.Publisher.observe(req.NamespacedName, rep)
	return ctrl.Result{}, nil
}

// apply puts cfg live: it updates the existing pool in place (keeping what it
// learned about unchanged keys) or builds a new one when there is none or the
// provider changed. A pool without keys is removed, so the proxy stops serving it.
func (r *KeyPoolReconciler) apply(kp *llmv1alpha1.KeyPool, cfg keypool.PoolConfig) error {
	if len(cfg.Keys) == 0 || cfg.Access.Upstream == nil {
		// Nothing to serve with (the problems say why): the proxy answers 404.
		r.Registry.Delete(kp.Namespace, kp.Name)
		return nil
	}
	prov, ok := provider.Lookup(string(kp.Spec.Provider))
	if !ok { // the API's enum admits only known providers
		r.Registry.Delete(kp.Namespace, kp.Name)
		return fmt.Errorf("unknown provider %q", kp.Spec.Provider)
	}
	if pool, ok := r.Registry.Get(kp.Namespace, kp.Name); ok && pool.Provider() == prov {
		if err := pool.Update(cfg); err != nil {
			return fmt.Errorf("updating pool: %w", err)
		}
		return nil
	}
	pool, err := keypool.NewKeyPool(prov, cfg)
	if err != nil {
		r.Registry.Delete(kp.Namespace, kp.Name)
		return fmt.Errorf("building pool: %w", err)
	}
	r.Registry.Set(kp.Namespace, kp.Name, pool)
	return nil
}

func (r *KeyPoolReconciler) remove(nn types.NamespacedName) {
	r.Registry.Delete(nn.Namespace, nn.Name)
	r.Publisher.forget(nn)
	if r.OnDelete != nil {
		r.OnDelete(nn.Namespace, nn.Name)
	}
}

// defaultAllowlist is DefaultAllowedUpstreams, parsed once.
var defaultAllowlist = func() *UpstreamAllowlist {
	a, err := ParseAllowedUpstreams(DefaultAllowedUpstreams)
	if err != nil {
		panic(err) // a constant: caught by any test
	}
	return a
}()

func (r *KeyPoolReconciler) allowedUpstreams() *UpstreamAllowlist {
	if r.AllowedUpstreams != nil {
		return r.AllowedUpstreams
	}
	return defaultAllowlist
}

// SetupWithManager sets up the controller with the Manager.
func (r *KeyPoolReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &llmv1alpha1.KeyPool{}, secretNameIndex,
		func(obj client.Object) []string { return secretNames(obj.(*llmv1alpha1.KeyPool)) }); err != nil {
		return fmt.Errorf("indexing keypools by secret: %w", err)
	}
	// Every replica builds pools, so the controller does not wait for
	// leadership; writes to the API server happen in the leader-only publisher.
	needLeader := false
	return ctrl.NewControllerManagedBy(mgr).
		// Status writes do not change the generation and need no reconcile.
		For(&llmv1alpha1.KeyPool{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Secrets are watched by metadata only: the cache never holds key
		// values. CacheOptions restricts the watch to labeled Secrets: adding
		// the label is seen as the Secret appearing, removing it as its deletion.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.poolsUsingSecret)).
		WithOptions(controller.Options{NeedLeaderElection: &needLeader}).
		Named("keypool").
		Complete(r)
}

// poolsUsingSecret maps a Secret to the KeyPools of its namespace that name it.
func (r *KeyPoolReconciler) poolsUsingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var pools llmv1alpha1.KeyPoolList
	if err := r.List(ctx, &pools, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{secretNameIndex: secret.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "listing keypools for secret", "secret", secret.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, len(pools.Items))
	for i := range pools.Items {
		reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pools.Items[i])}
	}
	return reqs
}

// secretNames lists the Secrets a KeyPool uses, each once.
func secretNames(kp *llmv1alpha1.KeyPool) []string {
	seen := make(map[string]struct{}, len(kp.Spec.Keys)+1)
	names := make([]string, 0, len(kp.Spec.Keys)+1)
	add := func(name string) {
		if _, ok := seen[name]; !ok {
			seen[name] = struct{}{}
			names = append(names, name)
		}
	}
	for _, k := range kp.Spec.Keys {
		add(k.SecretRef.Name)
	}
	if ref := kp.Spec.ClientAuth.SecretRef; ref != nil {
		add(ref.Name)
	}
	return names
}
