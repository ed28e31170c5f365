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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lastAppliedAnnotation is where client-side `kubectl apply` keeps a copy of
// the whole object it applied: for a Secret, its values.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// StripSecretMetadata is the manager's cache transform. The controller
// watches Secrets by metadata only (the only metadata-only watch it has), but
// metadata is not always free of secrets: kubectl's last-applied annotation,
// and managed fields, can carry a Secret's values. Dropping them keeps key
// values out of the operator's cache; the reconciler reads values straight
// from the API server. Other objects pass unchanged.
func StripSecretMetadata(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	m.ManagedFields = nil
	if _, ok := m.Annotations[lastAppliedAnnotation]; ok {
		annotations := make(map[string]string, len(m.Annotations)-1)
		for k, v := range m.Annotations {
			if k != lastAppliedAnnotation {
				annotations[k] = v
			}
		}
		m.Annotations = annotations
	}
	return m, nil
}
