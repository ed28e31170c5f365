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
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStripSecretMetadataDropsValueCarriers(t *testing.T) {
	in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "keys",
		Annotations: map[string]string{
			lastAppliedAnnotation: `{"stringData":{"a":"sk-canary"}}`,
			"team":                "a",
		},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	out, err := StripSecretMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	m := out.(*metav1.PartialObjectMetadata)
	if _, ok := m.Annotations[lastAppliedAnnotation]; ok || m.ManagedFields != nil {
		t.Fatalf("value carriers kept: %+v", m.ObjectMeta)
	}
	if m.Annotations["team"] != "a" || m.Name != "keys" {
		t.Fatalf("other metadata lost: %+v", m.ObjectMeta)
	}
	other := "not metadata"
	if got, _ := StripSecretMetadata(other); got != other {
		t.Fatal("other objects must pass unchanged")
	}
}
