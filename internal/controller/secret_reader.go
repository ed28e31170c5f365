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
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
)

// secretEntry is one data entry of a Secret: a key or a client token.
type secretEntry struct {
	id      string // "secret/dataKey"
	dataKey string // the entry's name: a client token's client name
	value   string
}

// secretUse is one Secret read for one purpose (a SecretTypeLabel value).
type secretUse struct {
	name, secretType string
}

// secretRead is what reading one secretUse gave: the Secret, or the problem
// that kept it from being read.
type secretRead struct {
	secret  *corev1.Secret
	problem *problem
}

// secretCache reads each Secret of a reconcile once, straight from the API
// server, and forgets it when the reconcile ends.
//
// Only Secrets that opted in are read: the API server is asked for the named
// Secret carrying SecretTypeLabel with the value its use needs and not of
// type service-account-token, so the value of any other Secret never leaves
// the API server. Why a Secret was refused is then found from its metadata.
type secretCache struct {
	reader    client.Reader
	namespace string
	reads     map[secretUse]secretRead
}

// entries returns the non-empty data entries a reference selects, sorted by
// name so that a pool's key order is stable. secretType is the
// SecretTypeLabel value the Secret must carry.
func (c *secretCache) entries(ctx context.Context, ref llmv1alpha1.SecretKeysReference,
	secretType string) ([]secretEntry, []problem, error) {
	read, err := c.get(ctx, secretUse{name: ref.Name, secretType: secretType})
	if err != nil {
		return nil, nil, err
	}
	if read.problem != nil {
		return nil, []problem{*read.problem}, nil
	}
	secret := read.secret
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
			entries = append(entries, secretEntry{id: ref.Name + "/" + k, dataKey: k, value: string(v)})
		}
	}
	if len(entries) == 0 {
		return nil, []problem{{reason: llmv1alpha1.ReasonKeyNotFound,
			message: fmt.Sprintf("Secret %q has no non-empty data entry", ref.Name)}}, nil
	}
	return entries, nil, nil
}

func (c *secretCache) get(ctx context.Context, use secretUse) (secretRead, error) {
	if r, ok := c.reads[use]; ok {
		return r, nil
	}
	r, err := c.read(ctx, use)
	if err != nil {
		return secretRead{}, err
	}
	if c.reads == nil {
		c.reads = make(map[secretUse]secretRead)
	}
	c.reads[use] = r
	return r, nil
}

// read lists the one Secret that may be used (a server-side selection on
// name, label and type) and, when there is none, explains why from the
// Secret's metadata alone.
func (c *secretCache) read(ctx context.Context, use secretUse) (secretRead, error) {
	var list corev1.SecretList
	if err := c.reader.List(ctx, &list, client.InNamespace(c.namespace),
		client.MatchingLabels{llmv1alpha1.SecretTypeLabel: use.secretType},
		client.MatchingFieldsSelector{Selector: fields.AndSelectors(
			fields.OneTermEqualSelector("metadata.name", use.name),
			fields.OneTermNotEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)),
		)}); err != nil {
		return secretRead{}, fmt.Errorf("reading secret %q: %w", use.name, err)
	}
	for i := range list.Items {
		if list.Items[i].Name == use.name { // the selector's job; checked, not assumed
			return secretRead{secret: &list.Items[i]}, nil
		}
	}

	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := c.reader.Get(ctx, types.NamespacedName{Namespace: c.namespace, Name: use.name}, meta)
	switch {
	case apierrors.IsNotFound(err):
		return secretRead{problem: &problem{reason: llmv1alpha1.ReasonSecretNotFound,
			message: fmt.Sprintf("Secret %q not found", use.name)}}, nil
	case err != nil:
		return secretRead{}, fmt.Errorf("getting metadata of secret %q: %w", use.name, err)
	case meta.Labels[llmv1alpha1.SecretTypeLabel] != use.secretType:
		return secretRead{problem: &problem{reason: llmv1alpha1.ReasonSecretNotLabeled,
			message: fmt.Sprintf("Secret %q is not labeled %s=%s, so it is not read",
				use.name, llmv1alpha1.SecretTypeLabel, use.secretType)}}, nil
	case meta.Annotations[corev1.ServiceAccountNameKey] != "":
		// Labeled, yet not listed: a service-account token (the API server
		// requires this annotation on those).
		return secretRead{problem: &problem{reason: llmv1alpha1.ReasonSecretTypeRefused,
			message: fmt.Sprintf("Secret %q is a service-account token, which is never read", use.name)}}, nil
	default:
		// It changed between the two reads: try again.
		return secretRead{}, fmt.Errorf("secret %q changed while being read", use.name)
	}
}
