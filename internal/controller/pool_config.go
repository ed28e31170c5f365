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
	"crypto/sha256"
	"fmt"
	"net/url"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/quota"
)

// problem is something wrong with a KeyPool's inputs that the user must fix.
// Its message names Secrets and data entries, never values.
type problem struct {
	reason  string
	message string
}

// loadPoolConfig reads the Secrets a KeyPool names and turns the KeyPool into
// a pool configuration. Missing, unlabeled or refused Secrets and missing
// entries are problems, not errors: the pool is built from what exists. An
// upstream outside allowed is a problem too, and then no Secret is read at
// all: the pool cannot be served. The error is for API failures only.
func loadPoolConfig(ctx context.Context, reader client.Reader, kp *llmv1alpha1.KeyPool,
	allowed *UpstreamAllowlist) (keypool.PoolConfig, []problem, error) {
	upstream, refused := allowedUpstream(kp.Spec, allowed)
	if refused != nil {
		return keypool.PoolConfig{}, []problem{*refused}, nil
	}
	var problems []problem
	secrets := secretCache{reader: reader, namespace: kp.Namespace}

	prov, _ := provider.Lookup(string(kp.Spec.Provider)) // known: allowedUpstream checked it
	keys := make([]keypool.KeyConfig, 0, len(kp.Spec.Keys))
	seen := make(map[string]struct{}, len(kp.Spec.Keys))
	for _, src := range kp.Spec.Keys {
		entries, p, err := secrets.entries(ctx, src.SecretRef, llmv1alpha1.SecretTypeProviderKeys)
		if err != nil {
			return keypool.PoolConfig{}, nil, err
		}
		problems = append(problems, p...)
		for _, e := range entries {
			if _, dup := seen[e.id]; dup {
				continue // the same entry named twice: the first listing wins
			}
			seen[e.id] = struct{}{}
			if u, ok := provider.CredentialURL(prov, e.value); ok && !allowed.Allows(u) {
				// The entry would send its credential (a signed token
				// request) where the admin did not allow.
				problems = append(problems, problem{reason: llmv1alpha1.ReasonUpstreamNotAllowed, message: fmt.Sprintf(
					"key %s: its token endpoint %q is not allowed by the operator (--allowed-upstreams); the key is not used",
					e.id, u.Redacted())})
				continue
			}
			keys = append(keys, keypool.KeyConfig{
				ID:         e.id,
				APIKey:     e.value,
				RPMLimit:   src.RPMLimit,
				ITPMLimit:  src.ITPMLimit,
				OTPMLimit:  src.OTPMLimit,
				Priority:   int(ptr.Deref(src.Priority, 1)),
				Weight:     int(src.Weight),
				LimitGroup: src.LimitGroup,
			})
		}
	}
	if len(keys) == 0 {
		problems = append(problems, problem{reason: llmv1alpha1.ReasonNoUsableKeys,
			message: "no key could be loaded from the Secrets named in spec.keys"})
	}

	access, p, err := loadAccess(ctx, &secrets, kp, upstream)
	if err != nil {
		return keypool.PoolConfig{}, nil, err
	}
	problems = append(problems, p...)

	cfg := keypool.PoolConfig{
		Strategy: keypool.Strategy(kp.Spec.Strategy),
		Affinity: kp.Spec.CacheAffinity,
		Keys:     keys,
		Access:   access,
	}
	if cfg.Strategy == "" {
		cfg.Strategy = keypool.StrategyLeastLoaded
	}
	if kp.Spec.QueueTimeout != nil {
		cfg.QueueTimeout = kp.Spec.QueueTimeout.Duration
	}
	for _, c := range kp.Spec.ModelClasses {
		cfg.ModelClasses = append(cfg.ModelClasses, keypool.ModelClass{Name: c.Name, Models: c.Models,
			RPMLimit: c.RPMLimit, ITPMLimit: c.ITPMLimit, OTPMLimit: c.OTPMLimit})
	}
	for _, c := range kp.Spec.Clients {
		cc := keypool.ClientConfig{Name: c.Name, Weight: int(c.Weight), MaxWaiters: int(c.MaxWaiting)}
		if q := c.Quota; q != nil {
			cc.Quota = quota.Limits{RPM: q.RPM, ITPM: q.ITPM, OTPM: q.OTPM,
				DailyTokens: q.DailyTokens, MonthlyTokens: q.MonthlyTokens}
			cc.Spent = spentBudget(kp.Status.Clients, c.Name)
		}
		cfg.Clients = append(cfg.Clients, cc)
	}
	return cfg, problems, nil
}

// loadAccess builds how the proxy exposes the pool: upstream, client tokens
// (kept as hashes only) and attempts.
func loadAccess(ctx context.Context, secrets *secretCache, kp *llmv1alpha1.KeyPool,
	upstream *url.URL) (keypool.Access, []problem, error) {
	var problems []problem
	access := keypool.Access{
		Upstream:             upstream,
		AllowUnauthenticated: kp.Spec.ClientAuth.AllowUnauthenticated,
		MaxAttempts:          int(kp.Spec.Failover.MaxAttempts),
		PassThroughPaths:     kp.Spec.PassThroughPaths,
	}
	if ref := kp.Spec.ClientAuth.SecretRef; ref != nil {
		entries, p, err := secrets.entries(ctx, *ref, llmv1alpha1.SecretTypeClientTokens)
		if err != nil {
			return keypool.Access{}, nil, err
		}
		problems = append(problems, p...)
		for _, e := range entries {
			access.ClientTokenHashes = append(access.ClientTokenHashes, sha256.Sum256([]byte(e.value)))
			access.ClientNames = append(access.ClientNames, e.dataKey)
		}
		if len(access.ClientTokenHashes) == 0 {
			problems = append(problems, problem{reason: llmv1alpha1.ReasonClientAuthInvalid,
				message: fmt.Sprintf("no client token in Secret %q: every client request is refused", ref.Name)})
		}
	}
	return access, problems, nil
}

// allowedUpstream returns the pool's upstream, or the problem that keeps the
// pool from being served: an invalid URL, or an origin outside allowed.
func allowedUpstream(spec llmv1alpha1.KeyPoolSpec, allowed *UpstreamAllowlist) (*url.URL, *problem) {
	u, err := upstreamURL(spec)
	if err != nil {
		return nil, &problem{reason: llmv1alpha1.ReasonInvalidConfig, message: err.Error()}
	}
	if !allowed.Allows(u) {
		return nil, &problem{reason: llmv1alpha1.ReasonUpstreamNotAllowed, message: fmt.Sprintf(
			"upstream %q is not allowed by the operator (--allowed-upstreams); the pool is not served", u.Redacted())}
	}
	return u, nil
}

func upstreamURL(spec llmv1alpha1.KeyPoolSpec) (*url.URL, error) {
	raw := spec.Upstream
	if raw == "" {
		prov, ok := provider.Lookup(string(spec.Provider))
		if !ok {
			return nil, fmt.Errorf("spec.provider %q is not known", spec.Provider)
		}
		raw = prov.DefaultUpstream()
		if spec.Region != "" {
			if raw, ok = provider.RegionalUpstream(prov, spec.Region); !ok {
				return nil, fmt.Errorf("spec.region %q is not a region of provider %s", spec.Region, prov.Name())
			}
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != schemeHTTP && u.Scheme != schemeHTTPS) || u.Host == "" {
		return nil, fmt.Errorf("spec.upstream %q is not an absolute http(s) URL", raw)
	}
	return u, nil
}

// spentBudget is what status.clients says the client name spent of its budgets: a
// new pool (after a restart) starts from it. Without Redis it is the only
// record that outlives the process.
func spentBudget(status []llmv1alpha1.ClientStatus, name string) *quota.Spent {
	for _, c := range status {
		if c.Name == name && c.Budget != nil {
			return &quota.Spent{Day: c.Budget.Day, DayTokens: c.Budget.DayTokens,
				Month: c.Budget.Month, MonthTokens: c.Budget.MonthTokens}
		}
	}
	return nil
}
