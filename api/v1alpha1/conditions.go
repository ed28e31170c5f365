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

// Condition types of a KeyPool.
const (
	// ConditionReady is True when the proxy serves the pool with at least one
	// usable key.
	ConditionReady = "Ready"
	// ConditionDegraded is True when part of the pool is unusable: a Secret or
	// a data entry is missing, or the provider rejected some keys.
	ConditionDegraded = "Degraded"
)

// Condition reasons of a KeyPool.
const (
	// ReasonPoolReady: every key is loaded and usable.
	ReasonPoolReady = "PoolReady"
	// ReasonSecretNotFound: a Secret named by the spec does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonKeyNotFound: a Secret lacks the data entry the spec names.
	ReasonKeyNotFound = "KeyNotFound"
	// ReasonNoUsableKeys: no key could be loaded, or every key is rejected.
	ReasonNoUsableKeys = "NoUsableKeys"
	// ReasonKeysRejected: the provider rejected some keys (401/403).
	ReasonKeysRejected = "KeysRejected"
	// ReasonClientAuthInvalid: the client-token Secret is missing or empty.
	ReasonClientAuthInvalid = "ClientAuthInvalid"
	// ReasonSecretNotLabeled: a Secret named by the spec does not carry the
	// label SecretTypeLabel with the value its use needs; its values are not
	// read. The message names the Secret and the label it needs.
	ReasonSecretNotLabeled = "SecretNotLabeled"
	// ReasonSecretTypeRefused: a Secret named by the spec is a
	// service-account token, which the operator never reads, labelled or not.
	ReasonSecretTypeRefused = "SecretTypeRefused"
	// ReasonUpstreamNotAllowed: spec.upstream (or the provider's default) is
	// not among the origins the cluster admin allows (--allowed-upstreams);
	// the pool is not served.
	ReasonUpstreamNotAllowed = "UpstreamNotAllowed"
	// ReasonInvalidConfig: the spec cannot be turned into a pool.
	ReasonInvalidConfig = "InvalidConfig"
	// ReasonSharedLimitsUnavailable: the Redis that holds the limits shared
	// by the replicas is unreachable; each replica serves with local limits
	// at limit / replicas until it is back.
	ReasonSharedLimitsUnavailable = "SharedLimitsUnavailable"
	// ReasonAsExpected: the condition's negative state is the normal one.
	ReasonAsExpected = "AsExpected"
)

// Event reasons of a KeyPool's key transitions. A problem found by a
// reconcile is also reported as a Warning Event, with the problem's
// condition reason above.
const (
	// EventReasonKeyRejected: a key became Rejected (a 401 that blames the
	// key, confirmed by a re-check).
	EventReasonKeyRejected = "KeyRejected"
	// EventReasonKeyCoolingDown: a key became CoolingDown (a 429, or the
	// circuit breaker tripped).
	EventReasonKeyCoolingDown = "KeyCoolingDown"
	// EventReasonKeyRecovered: a Rejected or CoolingDown key became Available.
	EventReasonKeyRecovered = "KeyRecovered"
)
