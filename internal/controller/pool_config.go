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
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// problem is something wrong with a KeyPool's inputs that the user must fix.
// Its message names Secrets and data entries, never values.
type problem struct {
	reason  string
	message string
}

// loadPoolConfig reads the Secrets a KeyPool names and turns the KeyPool into
// a pool configuration. Missing Secrets and entries are problems, not errors:
// the pool is built from what exists. The error is for API failures only.
func loadPoolConfig(ctx context.Context, reader client.Reader, kp *llmv1alpha1.KeyPool) (keypool.PoolConfig, []problem, error) {
	var problems []problem
	secrets := secretCache{reader: reader, namespace: kp.Namespace}

	keys := make([]keypool.KeyConfig, 0, len(kp.Spec.Keys))
	seen := make(map[string]struct{}, len(kp.Spec.Keys))
	for _, src := range kp.Spec.Keys {
		entries, p, err := secrets.entries(ctx, src.SecretRef)
		if err != nil {
			return keypool.PoolConfig{}, nil, err
		}
		problems = append(problems, p...)
		for _, e := range entries {
			if _, dup := seen[e.id]; dup {
				continue // the same entry named twice: the first listing wins
			}
			seen[e.id] = struct{}{}
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

	access, p, err := loadAccess(ctx, &secrets, kp)
	if err != nil {
		return keypool.PoolConfig{}, nil, err
	}
	problems = append(problems, p...)

	cfg := keypool.PoolConfig{
		Strategy: keypool.Strategy(kp.Spec.Strategy),
		Keys:     keys,
		Access:   access,
	}
	if cfg.Strategy == "" {
		cfg.Strategy = keypool.StrategyLeastLoaded
	}
	if kp.Spec.QueueTimeout != nil {
		cfg.QueueTimeout = kp.Spec.QueueTimeout.Duration
	}
	return cfg, problems, nil
}

// loadAccess builds how the proxy exposes the pool: upstream, client tokens
// (kept as hashes only) and attempts.
func loadAccess(ctx context.Context, secrets *secretCache, kp *llmv1alpha1.KeyPool) (keypool.Access, []problem, error) {
	var problems []problem
	upstream, err := upstreamURL(kp.Spec)
	if err != nil {
		problems = append(problems, problem{reason: llmv1alpha1.ReasonInvalidConfig, message: err.Error()})
	}
	access := keypool.Access{
		Upstream:             upstream,
		AllowUnauthenticated: kp.Spec.ClientAuth.AllowUnauthenticated,
		MaxAttempts:          int(kp.Spec.Failover.MaxAttempts),
	}
	if ref := kp.Spec.ClientAuth.SecretRef; ref != nil {
		entries, p, err := secrets.entries(ctx, *ref)
		if err != nil {
			return keypool.Access{}, nil, err
		}
		problems = append(problems, p...)
		for _, e := range entries {
			access.ClientTokenHashes = append(access.ClientTokenHashes, sha256.Sum256([]byte(e.value)))
		}
		if len(access.ClientTokenHashes) == 0 {
			problems = append(problems, problem{reason: llmv1alpha1.ReasonClientAuthInvalid,
				message: fmt.Sprintf("no client token in Secret %q: every client request is refused", ref.Name)})
		}
	}
	return access, problems, nil
}

func upstreamURL(spec llmv1alpha1.KeyPoolSpec) (*url.URL, error) {
	raw := spec.Upstream
	if raw == "" {
		prov, ok := provider.Lookup(string(spec.Provider))
		if !ok {
			return nil, fmt.Errorf("spec.provider %q is not known", spec.Provider)
		}
		raw = prov.DefaultUpstream()
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("spec.upstream %q is not an absolute http(s) URL", raw)
	}
	return u, nil
}

// secretEntry is one data entry of a Secret: a key or a client token.
type secretEntry struct {
	id    string // "secret/dataKey"
	value string
}

// secretCache reads each Secret of a reconcile once, straight from the API
// server, and forgets it when the reconcile ends.
type secretCache struct {
	reader    client.Reader
	namespace string
	secrets   map[string]*corev1.Secret // nil value: not found
}

// entries returns the non-empty data entries a reference selects, sorted by
// name so that a pool's key order is stable.
func (c *secretCache) entries(ctx context.Context, ref llmv1alpha1.SecretKeysReference) ([]secretEntry, []problem, error) {
	secret, err := c.get(ctx, ref.Name)
	if err != nil {
		return nil, nil, err
	}
	if secret == nil {
		return nil, []problem{{reason: llmv1alpha1.ReasonSecretNotFound,
			message: fmt.Sprintf("Secret %q not found", ref.Name)}}, nil
	}
	if ref.Key != "" {
		v := bytes.TrimSpace(secret.Data[ref.Key])
		if len(v) == 0 {
			return nil, []problem{{reason: llmv1alpha1.ReasonKeyNotFound,
				message: fmt.Sprintf("Secret %q has no non-empty entry %q", ref.Name, ref.Key)}}, nil
		}
		return []secretEntry{{id: ref.Name + "/" + ref.Key, value: string(v)}}, nil, nil
	}
	names := make([]string, 0, len(secret.Data))
	for k := range secret.Data {
		names = append(names, k)
	}
	slices.Sort(names)
	entries := make([]secretEntry, 0, len(names))
	for _, k := range names {
		// Values often end in a newline (echo > file); it is never part of a key.
		if v := bytes.TrimSpace(secret.Data[k]); len(v) > 0 {
			entries = append(entries, secretEntry{id: ref.Name + "/" + k, value: string(v)})
		}
	}
	if len(entries) == 0 {
		return nil, []problem{{reason: llmv1alpha1.ReasonKeyNotFound,
			message: fmt.Sprintf("Secret %q has no non-empty data entry", ref.Name)}}, nil
	}
	return entries, nil, nil
}

func (c *secretCache) get(ctx context.Context, name string) (*corev1.Secret, error) {
	if s, ok := c.secrets[name]; ok {
		return s, nil
	}
	if c.secrets == nil {
		c.secrets = make(map[string]*corev1.Secret)
	}
	var s corev1.Secret
	err := c.reader.Get(ctx, types.NamespacedName{Namespace: c.namespace, Name: name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		c.secrets[name] = nil
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("getting secret %q: %w", name, err)
	}
	c.secrets[name] = &s
	return &s, nil
}
