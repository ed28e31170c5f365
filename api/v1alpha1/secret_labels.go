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

package v1alpha1

// SecretTypeLabel is the label a Secret must carry before a KeyPool may use
// it: the Secret's owner opts in, as with the Secrets Argo CD may read. A
// KeyPool naming a Secret without it gets Ready=False (SecretNotLabeled) and
// the operator never reads the Secret's values.
const SecretTypeLabel = "llm.keypool.dev/secret-type"

// Values of SecretTypeLabel: what a Secret may be used for.
const (
	// SecretTypeProviderKeys marks a Secret of provider API keys (spec.keys).
	SecretTypeProviderKeys = "provider-keys"
	// SecretTypeClientTokens marks a Secret of client tokens
	// (spec.clientAuth.secretRef).
	SecretTypeClientTokens = "client-tokens"
)
