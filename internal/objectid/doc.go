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

// Package objectid seals the IDs of provider objects (files, batches,
// stored responses, caches) before the proxy hands them to a client. A
// sealed ID carries the key that holds the object, the client that created
// it and the provider's own ID, encrypted and authenticated with a secret of
// the installation: the proxy needs no record of its own to know, on a later
// request, whose object it is and which key to send it to, on any replica
// and after any restart. A forged or altered ID does not open.
package objectid
