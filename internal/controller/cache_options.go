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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
)

// CacheOptions is the manager's cache configuration.
//
// Secret metadata loses what can carry values (StripSecretMetadata), and only
// Secrets labeled for the operator (SecretTypeLabel) are watched at all: the
// cache knows nothing of the namespace's other Secrets. With namespaces, every
// informer lists and watches only those namespaces, so that the manager runs
// with RoleBindings there and no cluster-wide read rights; without, it
// watches the whole cluster.
func CacheOptions(namespaces []string) cache.Options {
	opts := cache.Options{
		DefaultTransform: StripSecretMetadata,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labeledSecrets()},
		},
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = make(map[string]cache.Config, len(namespaces))
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// labeledSecrets selects the Secrets that opted in, for either use.
func labeledSecrets() labels.Selector {
	req, err := labels.NewRequirement(llmv1alpha1.SecretTypeLabel, selection.In,
		[]string{llmv1alpha1.SecretTypeProviderKeys, llmv1alpha1.SecretTypeClientTokens})
	if err != nil {
		panic(err) // constant input: caught by any test
	}
	return labels.NewSelector().Add(*req)
}
