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

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provider names the upstream API family of a pool.
// +kubebuilder:validation:Enum=anthropic;openai;azure;gemini;bedrock;vertex
type Provider string

const (
	// ProviderAnthropic is the Anthropic Messages API.
	ProviderAnthropic Provider = "anthropic"
	// ProviderOpenAI is any OpenAI-compatible API.
	ProviderOpenAI Provider = "openai"
	// ProviderAzure is Azure OpenAI, served from a resource's own endpoint.
	ProviderAzure Provider = "azure"
	// ProviderGemini is Google's Gemini API (generativelanguage).
	ProviderGemini Provider = "gemini"
	// ProviderBedrock is Amazon Bedrock's runtime API, with AWS credentials.
	ProviderBedrock Provider = "bedrock"
	// ProviderVertex is Google Vertex AI, with service-account keys.
	ProviderVertex Provider = "vertex"
)

// Strategy names how a key is chosen among the keys of the highest priority
// tier that has capacity.
// +kubebuilder:validation:Enum=least-loaded;round-robin;random;weighted
type Strategy string

const (
	// StrategyLeastLoaded picks the key whose limit group a request costs the
	// least share of its limits (requests, input and output tokens), among
	// those with capacity, breaking ties by the largest remaining share.
	StrategyLeastLoaded Strategy = "least-loaded"
	// StrategyRoundRobin takes the keys in turn.
	StrategyRoundRobin Strategy = "round-robin"
	// StrategyRandom picks uniformly at random.
	StrategyRandom Strategy = "random"
	// StrategyWeighted is smooth weighted round-robin over the keys' weights.
	StrategyWeighted Strategy = "weighted"
)

// SecretKeysReference names a Secret in the KeyPool's namespace, and optionally
// one data entry of it.
type SecretKeysReference struct {
	// name of the Secret, in the KeyPool's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// key is the data entry to use. When empty, every data entry of the Secret
	// is used, each as one key (or token).
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]*$`
	// +optional
	Key string `json:"key,omitempty"`
}

// KeySource is a set of provider API keys taken from one Secret, with the
// limits and selection settings they share.
type KeySource struct {
	// secretRef names the Secret that holds the keys: every data entry of the
	// Secret is one key, or just the entry named by key. Inside the pool and in
	// the status a key is named "secret/dataKey", never by its value. The
	// Secret must carry the label llm.keypool.dev/secret-type=provider-keys
	// and must not be a service-account token; otherwise it is not read.
	// +required
	SecretRef SecretKeysReference `json:"secretRef"`

	// rpmLimit is the key's requests per minute (for keys of a limitGroup, the
	// group's total). 0 or absent means unlimited until the provider's
	// rate-limit headers tell the real limit; when both are known the lower
	// applies.
	// +kubebuilder:validation:Minimum=0
	// +optional
	RPMLimit int64 `json:"rpmLimit,omitempty"`

	// itpmLimit is the key's input tokens per minute. 0 or absent means
	// unlimited until learned from headers.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ITPMLimit int64 `json:"itpmLimit,omitempty"`

	// otpmLimit is the key's output tokens per minute. 0 or absent means
	// unlimited until learned from headers.
	// +kubebuilder:validation:Minimum=0
	// +optional
	OTPMLimit int64 `json:"otpmLimit,omitempty"`

	// priority orders keys into tiers: 0 low, 1 normal, 2 high. The highest tier
	// that has a key with capacity serves the request; lower tiers are fallbacks.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2
	// +kubebuilder:default=1
	// +optional
	Priority *int32 `json:"priority,omitempty"`

	// weight is the key's share of traffic under the weighted strategy.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=1
	// +optional
	Weight int32 `json:"weight,omitempty"`

	// limitGroup names the organisation (or workspace) whose limits these keys
	// share. Keys in one group draw from one set of limits, so that the pool
	// does not count two keys of one organisation as double capacity.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	// +optional
	LimitGroup string `json:"limitGroup,omitempty"`
}

// ClientAuth says who may use the pool. Exactly one of secretRef and
// allowUnauthenticated must be set.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) != (has(self.allowUnauthenticated) && self.allowUnauthenticated)",message="exactly one of clientAuth.secretRef and clientAuth.allowUnauthenticated=true must be set"
type ClientAuth struct {
	// secretRef names a Secret whose data entries (or the one named by key) are
	// the client tokens accepted by the proxy, sent by clients in x-api-key or
	// Authorization: Bearer instead of a provider key. The Secret must carry
	// the label llm.keypool.dev/secret-type=client-tokens and must not be a
	// service-account token; otherwise it is not read.
	// +optional
	SecretRef *SecretKeysReference `json:"secretRef,omitempty"`

	// allowUnauthenticated lets any client that can reach the proxy Service,
	// from any namespace, use the pool without a token. It is an explicit
	// opt-out; prefer secretRef. false alone does not satisfy clientAuth.
	// +optional
	AllowUnauthenticated bool `json:"allowUnauthenticated,omitempty"`
}

// ClientSpec configures one named client of the pool: the holder of one
// client token, named by the token's data key in the clientAuth Secret.
type ClientSpec struct {
	// name is the data key of the client's token in the Secret named by
	// clientAuth.secretRef. Accounting, metrics and the fair share use it;
	// the token itself never appears.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Name string `json:"name"`

	// weight is the client's share of a saturated pool relative to the
	// other clients': when requests wait for capacity, each client in turn
	// is served up to its weight. Clients not listed have weight 1.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=1
	// +optional
	Weight int32 `json:"weight,omitempty"`

	// maxWaiting bounds the client's requests waiting for capacity at once.
	// 0 or absent: the client's weight's share of the replica's per-pool
	// queue (--proxy-max-queued-per-pool), at least 1.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	// +optional
	MaxWaiting int32 `json:"maxWaiting,omitempty"`

	// quota limits the client's own use of the pool, whatever capacity the
	// keys have. A request over a quota gets 429 (in the provider's error
	// shape, with Retry-After and a message naming the quota) before any key
	// is touched.
	// +optional
	Quota *ClientQuota `json:"quota,omitempty"`
}

// ClientQuota is a client's optional limits; an absent or 0 field is no
// limit. Per-minute quotas are buckets that refill over a minute, like a
// key's limits. Budgets count tokens as the provider reports them: input,
// cache writes and output (cache reads are free, as in the keys' limits),
// per UTC calendar day and month; an answer that does not report them is
// charged from the request itself. A request reserves its estimated cost
// (input estimate plus its max_tokens) at admission and is refused when
// that does not fit in what is left; a budget is overdrawn at most by what
// the requests in flight use beyond their estimates.
// +kubebuilder:validation:XValidation:rule="!has(self.dailyTokens) || !has(self.monthlyTokens) || self.dailyTokens <= self.monthlyTokens",message="quota.dailyTokens must not exceed quota.monthlyTokens"
type ClientQuota struct {
	// rpm is the client's requests per minute.
	// +kubebuilder:validation:Minimum=0
	// +optional
	RPM int64 `json:"rpm,omitempty"`

	// itpm is the client's input tokens per minute (estimated when the
	// request arrives, settled with what the provider reports).
	// +kubebuilder:validation:Minimum=0
	// +optional
	ITPM int64 `json:"itpm,omitempty"`

	// otpm is the client's output tokens per minute.
	// +kubebuilder:validation:Minimum=0
	// +optional
	OTPM int64 `json:"otpm,omitempty"`

	// dailyTokens is the client's token budget per UTC day.
	// +kubebuilder:validation:Minimum=0
	// +optional
	DailyTokens int64 `json:"dailyTokens,omitempty"`

	// monthlyTokens is the client's token budget per UTC calendar month.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MonthlyTokens int64 `json:"monthlyTokens,omitempty"`
}

// Failover says how a failed request is retried on other keys.
type Failover struct {
	// maxAttempts is how many keys a request may try, the first attempt
	// included, before the client gets the error. A request moves to another
	// key on a 429, a 401 that blames the key, a 503 or 529, a connection
	// error, and another 5xx or transport error when the request is safe to
	// repeat; a 403 or a 401 about the request is passed to the client. A
	// request is never retried once a byte of the answer went to the client.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +kubebuilder:default=3
	// +optional
	MaxAttempts int32 `json:"maxAttempts,omitempty"`
}

// KeyPoolSpec defines the desired state of KeyPool.
// +kubebuilder:validation:XValidation:rule="!has(self.provider) || self.provider != 'azure' || has(self.upstream)",message="upstream is required for provider azure: it names the resource endpoint, e.g. https://my-resource.openai.azure.com",fieldPath=".upstream",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.clients) || size(self.clients) == 0 || has(self.clientAuth.secretRef)",message="spec.clients needs clientAuth.secretRef: clients are named by their tokens' data keys"
// +kubebuilder:validation:XValidation:rule="!has(self.region) || (has(self.provider) && self.provider in ['bedrock', 'vertex'])",message="spec.region is only for provider bedrock or vertex",fieldPath=".region"
// +kubebuilder:validation:XValidation:rule="!has(self.region) || !has(self.upstream)",message="set one of spec.region and spec.upstream: region chooses the official regional endpoint",fieldPath=".region"
type KeyPoolSpec struct {
	// provider is the upstream API family: anthropic (x-api-key,
	// anthropic-ratelimit-* headers), openai (any OpenAI-compatible API:
	// Authorization: Bearer, x-ratelimit-* headers), azure (Azure OpenAI:
	// api-key, deployment paths, x-ratelimit-remaining-* headers) or gemini
	// (Google's Gemini API: x-goog-api-key, no rate-limit headers; limits
	// come from the keys' rpmLimit/itpmLimit/otpmLimit and 429s), bedrock
	// (Amazon Bedrock: each Secret data entry is an AWS access key pair or
	// a Bedrock API key as JSON, requests signed with SigV4) or vertex
	// (Google Vertex AI: each data entry is a service-account key JSON,
	// OAuth access tokens). Neither cloud sends rate-limit headers: their
	// limits come from the keys' limits and their throttling errors.
	// +kubebuilder:default=anthropic
	// +optional
	Provider Provider `json:"provider,omitempty"`

	// upstream is the provider's base URL. When empty, https://api.anthropic.com
	// for anthropic, https://api.openai.com for openai and
	// https://generativelanguage.googleapis.com for gemini,
	// https://bedrock-runtime.{region}.amazonaws.com for bedrock (region
	// us-east-1 unless spec.region says) and
	// https://{region}-aiplatform.googleapis.com for vertex (the global
	// https://aiplatform.googleapis.com unless spec.region says); azure has
	// no default and requires it (the resource endpoint,
	// https://{resource}.openai.azure.com). The controller uses the
	// default; the stored object stays empty. A path is kept as a
	// prefix: with https://gw.example.com/openai, /v1/chat/completions goes to
	// https://gw.example.com/openai/v1/chat/completions. Its origin (scheme,
	// host, port) must be one the cluster admin allows with the manager's
	// --allowed-upstreams flag; otherwise the pool is not served
	// (Ready=False, UpstreamNotAllowed).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="upstream must be an absolute http or https URL"
	// +optional
	Upstream string `json:"upstream,omitempty"`

	// region is the cloud region of a bedrock or vertex pool (e.g.
	// us-east-1, us-east5, global): the default upstream is that region's
	// official endpoint. A credential whose Secret entry names a region of
	// its own sends to that region's endpoint instead, so one pool may hold
	// credentials of several regions.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z0-9-]+$`
	// +optional
	Region string `json:"region,omitempty"`

	// strategy chooses a key among the keys of the highest priority tier that
	// have capacity: least-loaded, round-robin, random or weighted.
	// +kubebuilder:default=least-loaded
	// +optional
	Strategy Strategy `json:"strategy,omitempty"`

	// cacheAffinity keeps a conversation on the limit group (organisation,
	// or key) that served its previous turn while that group has capacity,
	// so the provider's prompt cache, which is per organisation, serves its
	// prefix (cache reads cost about a tenth of input and, at Anthropic, do
	// not count against input tokens per minute). A conversation is known
	// by prompt_cache_key, metadata.user_id or user, else by a hash of its
	// system prompt and first messages; nothing of it is stored but the
	// hash. The strategy chooses for a new conversation and when its group
	// is out of capacity.
	// +optional
	CacheAffinity bool `json:"cacheAffinity,omitempty"`

	// keys lists the Secrets that hold the provider API keys, with their
	// limits. An update replaces the whole list.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	// +required
	Keys []KeySource `json:"keys"`

	// modelClasses say which models share one set of limits at the
	// provider, and optionally that class's limits. Providers limit a key
	// per model (Anthropic per model class, OpenAI per model, Azure per
	// deployment, Gemini per model): the pool admits, learns and cools each
	// request against the limits of its model's class. A model listed in no
	// class gets a class of its own, learned from the provider's headers
	// (at most 32 per pool; further unknown models share the class
	// "other"). Requests that name no model use the class "default".
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	ModelClasses []ModelClass `json:"modelClasses,omitempty"`

	// clientAuth says who may use the pool through the proxy.
	// +required
	ClientAuth ClientAuth `json:"clientAuth"`

	// clients sets the weights and quotas of named clients (client tokens,
	// by data key). A client whose token is not listed has weight 1 and no
	// quota.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=map
	// +listMapKey=name
	// +optional
	Clients []ClientSpec `json:"clients,omitempty"`

	// failover says how failed requests are retried on other keys.
	// +kubebuilder:default={}
	// +optional
	Failover Failover `json:"failover,omitzero"`

	// queueTimeout is how long a request may wait for a key with capacity
	// (bounded by the client's own deadline and ended when the client
	// disconnects) before it gets a 429 with Retry-After: 0s (answer at
	// once) to 10m.
	// +kubebuilder:default="0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('10m')",message="queueTimeout must be between 0s and 10m"
	// +optional
	QueueTimeout *metav1.Duration `json:"queueTimeout,omitempty"`

	// passThroughPaths are upstream path prefixes (e.g. /v1/skills) that
	// the proxy forwards as they are, to any key, without its object
	// checks. Other paths are served only when they are generation
	// endpoints or object APIs the proxy knows (files, batches, stored
	// responses, caches), whose IDs it keeps to their creator and key. An
	// object made through a passed-through path is reachable by every
	// client of the pool, and only through a key that holds it.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^/(v1|v1beta|v1alpha|openai)/`
	// +listType=set
	// +optional
	PassThroughPaths []string `json:"passThroughPaths,omitempty"`
}

// KeyState is a key's place in its life cycle.
// +kubebuilder:validation:Enum=Available;CoolingDown;RateLimited;Rejected
type KeyState string

// ModelClass is a set of models that share one set of limits per key (or
// limit group).
type ModelClass struct {
	// name names the class in the status.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self != 'default' && self != 'other'",message="default and other are reserved class names"
	// +required
	Name string `json:"name"`

	// models are the model (or Azure deployment) names in the class, as
	// requests name them; an entry ending in * matches every name with
	// that prefix (claude-sonnet-4*). The longest matching prefix wins.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=set
	// +required
	Models []string `json:"models"`

	// rpmLimit is the class's requests per minute on each key (or limit
	// group). 0 or absent: the key's rpmLimit, until learned from headers.
	// +kubebuilder:validation:Minimum=0
	// +optional
	RPMLimit int64 `json:"rpmLimit,omitempty"`

	// itpmLimit is the class's input tokens per minute on each key (or
	// limit group); 0 or absent: the key's itpmLimit. A request whose
	// input is larger is answered 400 at once: it could never be served.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ITPMLimit int64 `json:"itpmLimit,omitempty"`

	// otpmLimit is the class's output tokens per minute on each key (or
	// limit group); 0 or absent: the key's otpmLimit.
	// +kubebuilder:validation:Minimum=0
	// +optional
	OTPMLimit int64 `json:"otpmLimit,omitempty"`
}

// ClassStatus is one model class of a key's limits.
type ClassStatus struct {
	// name is the class: a modelClasses name, a model the pool learned a
	// class for, "other" or "default".
	Name string `json:"name"`

	// rpmRemaining is the whole requests left now in the class's bucket,
	// when its limit is known.
	// +optional
	RPMRemaining *int64 `json:"rpmRemaining,omitempty"`

	// itpmRemaining is the class's input tokens left, when known.
	// +optional
	ITPMRemaining *int64 `json:"itpmRemaining,omitempty"`

	// otpmRemaining is the class's output tokens left, when known.
	// +optional
	OTPMRemaining *int64 `json:"otpmRemaining,omitempty"`

	// cooldownUntil is when the class is tried again after the provider
	// answered 429 for one of its models.
	// +optional
	CooldownUntil *metav1.Time `json:"cooldownUntil,omitempty"`
}

// KeyStatus is the observed state of one key, named by secret/dataKey.
type KeyStatus struct {
	// name is "secret/dataKey"; a key's value never appears in the status.
	Name string `json:"name"`

	// state is Available, CoolingDown (the provider answered 429, or the key
	// keeps failing), RateLimited (its local limits are spent) or Rejected (the
	// provider answered a 401 that blames the key and a re-check of the key
	// failed too; it stays so until the key's value changes).
	State KeyState `json:"state"`

	// limitGroup is the limit group the key draws from: its configured
	// spec.keys[].limitGroup, or org:<id> when the pool learned from the
	// provider's organisation header (anthropic-organization-id,
	// openai-organization) that keys without a configured group share one
	// organisation. Absent for a key with its own limits.
	// +optional
	LimitGroup string `json:"limitGroup,omitempty"`

	// rpmRemaining is the whole requests left now in the key's buckets (a
	// limit group's, repeated on each member), when the limit is known;
	// with several model classes, those of its busiest class (the least
	// share left), as itpmRemaining, otpmRemaining and resetAt are.
	// +optional
	RPMRemaining *int64 `json:"rpmRemaining,omitempty"`

	// itpmRemaining is the input tokens left in the current minute, when known.
	// +optional
	ITPMRemaining *int64 `json:"itpmRemaining,omitempty"`

	// otpmRemaining is the output tokens left in the current minute, when known.
	// +optional
	OTPMRemaining *int64 `json:"otpmRemaining,omitempty"`

	// resetAt is when the pool expects the key's (or its group's) known
	// limits to be full again, from the provider's headers and its own
	// accounting. Absent when full or unknown; truncated to seconds.
	// +optional
	ResetAt *metav1.Time `json:"resetAt,omitempty"`

	// cooldownUntil is when a cooling-down key is tried again.
	// +optional
	CooldownUntil *metav1.Time `json:"cooldownUntil,omitempty"`

	// classes lists the key's model classes once it served a request that
	// named a model (a limit group's, repeated on each member): at most 8,
	// those cooling down first, then in the order the key first served them.
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +optional
	Classes []ClassStatus `json:"classes,omitempty"`

	// lastError is the last failure seen for the key, such as
	// "429 Too Many Requests" or a transport error with the key redacted (at
	// most 256 characters). It is kept after the key recovers and cleared
	// only when the key's value changes.
	// +optional
	LastError string `json:"lastError,omitempty"`
}

// ClientStatus is one named client's use of the pool in the last minute,
// as the leader replica saw it.
type ClientStatus struct {
	// name is the client's name: its token's data key, never the token.
	Name string `json:"name"`

	// requests is the number of the client's requests answered in the last
	// minute, whatever the answer.
	Requests int64 `json:"requests"`

	// throttledRequests is how many of them were answered 429 (by the proxy,
	// when no capacity was left for the client, or by the provider).
	ThrottledRequests int64 `json:"throttledRequests"`

	// inputTokens is the input tokens of those requests, as the provider
	// reported them.
	InputTokens int64 `json:"inputTokens"`
	// outputTokens is the output tokens of those requests.
	OutputTokens int64 `json:"outputTokens"`
	// cacheReadTokens is the input tokens of those requests read from the
	// provider's prompt cache.
	CacheReadTokens int64 `json:"cacheReadTokens"`
	// cacheWriteTokens is the input tokens of those requests written to
	// the provider's prompt cache.
	CacheWriteTokens int64 `json:"cacheWriteTokens"`

	// waiting is the client's requests waiting for capacity when the status
	// was written.
	// +optional
	Waiting int32 `json:"waiting,omitempty"`

	// budget is what the client spent of its token budgets (quota.dailyTokens,
	// quota.monthlyTokens) in the current UTC day and month. Without shared
	// limits (Redis) it is also where the spend survives a restart: a new
	// manager process starts from it.
	// +optional
	Budget *ClientBudget `json:"budget,omitempty"`
}

// ClientBudget is what a client spent of its token budgets.
type ClientBudget struct {
	// day is the UTC day counted, as YYYY-MM-DD.
	Day string `json:"day"`
	// dayTokens is the tokens spent that day.
	DayTokens int64 `json:"dayTokens"`
	// month is the UTC month counted, as YYYY-MM.
	Month string `json:"month"`
	// monthTokens is the tokens spent that month.
	MonthTokens int64 `json:"monthTokens"`
}

// KeyPoolStatus defines the observed state of KeyPool.
type KeyPoolStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the proxy serves the pool with at least one usable
	// key and clients have a token) and Degraded (an input problem, rejected
	// keys, or shared limits unavailable).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// endpoint is the proxy URL to use as the SDK base URL: the manager's
	// --proxy-service-url plus /pools/<namespace>/<name>.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// upstream is the provider base URL the proxy sends the pool's requests
	// to: spec.upstream, or the provider's default when that is empty.
	// Empty while the upstream is invalid or not allowed
	// (--allowed-upstreams).
	// +optional
	Upstream string `json:"upstream,omitempty"`

	// totalKeys is the number of keys loaded into the pool (data entries, not
	// spec.keys items).
	// +optional
	TotalKeys int32 `json:"totalKeys"`

	// availableKeys is the number of keys in state Available at the last write.
	// +optional
	AvailableKeys int32 `json:"availableKeys"`

	// exhaustedKeys is totalKeys - availableKeys: keys cooling down, rate
	// limited or rejected.
	// +optional
	ExhaustedKeys int32 `json:"exhaustedKeys"`

	// totalRPM is the sum of the known requests-per-minute limits (the lower
	// of configured and learned); a limit group, configured or learned,
	// counts once. Keys with no known request limit add nothing.
	// +optional
	TotalRPM int64 `json:"totalRPM"`

	// remainingRPM is the requests left now, summed over the same buckets as
	// totalRPM. It is 0 both when the requests are spent and when no request
	// limit is known. With several model classes, each key (or limit group)
	// counts its busiest class, the one with the least share left, for
	// totalRPM too: the requests the busiest model can still send.
	// +optional
	RemainingRPM int64 `json:"remainingRPM"`

	// remainingTokens is the sum of the tokens left this minute (input,
	// output or combined buckets) over keys with known token limits.
	// +optional
	RemainingTokens int64 `json:"remainingTokens"`

	// queued is the number of requests waiting for a key with capacity when
	// the status was written.
	// +optional
	Queued int32 `json:"queued"`

	// keys is the state of each key: at most 250, those not Available first
	// (in configuration order). The metrics count every key.
	// +listType=map
	// +listMapKey=name
	// +optional
	Keys []KeyStatus `json:"keys,omitempty"`

	// clients is each named client's use of the pool in the last minute
	// (see spec.clients and clientAuth.secretRef), updated with the other
	// statistics: at most 250, the most active first, then those with the
	// most budget spent this month (in configuration order). The client
	// metrics count every client.
	// +listType=map
	// +listMapKey=name
	// +optional
	Clients []ClientStatus `json:"clients,omitempty"`

	// omittedKeys is how many keys status.keys leaves out (beyond 250), so
	// that the object stays well under etcd's size limit.
	// +optional
	OmittedKeys int32 `json:"omittedKeys,omitempty"`

	// omittedClients is how many clients status.clients leaves out (beyond
	// 250). Without Redis, their budget spend does not survive a restart.
	// +optional
	OmittedClients int32 `json:"omittedClients,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=kp
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.spec.strategy`
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=`.status.totalKeys`
// +kubebuilder:printcolumn:name="Available",type=integer,JSONPath=`.status.availableKeys`
// +kubebuilder:printcolumn:name="Exhausted",type=integer,JSONPath=`.status.exhaustedKeys`
// +kubebuilder:printcolumn:name="Remaining RPM",type=integer,JSONPath=`.status.remainingRPM`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Upstream",type=string,JSONPath=`.status.upstream`,priority=1
// +kubebuilder:printcolumn:name="Queued",type=integer,JSONPath=`.status.queued`,priority=1
// +kubebuilder:printcolumn:name="Tokens Remaining",type=integer,JSONPath=`.status.remainingTokens`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// KeyPool is a pool of provider API keys, shared through the operator's proxy.
type KeyPool struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec defines the desired state of KeyPool.
	// +required
	Spec KeyPoolSpec `json:"spec"`

	// status defines the observed state of KeyPool.
	// +optional
	Status KeyPoolStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// KeyPoolList contains a list of KeyPool.
type KeyPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []KeyPool `json:"items"`
}
