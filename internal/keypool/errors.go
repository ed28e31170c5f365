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

package keypool

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrAllKeysExhausted is returned (wrapped in *ExhaustedError) when no key has capacity.
	ErrAllKeysExhausted = errors.New("all keys exhausted")
	// ErrQueueFull is the Cause of the *ExhaustedError Acquire returns when
	// it would have to wait for capacity but MaxWaiters requests already do.
	ErrQueueFull = errors.New("queue of waiting requests is full")
	// ErrKeyNotFound is returned for an unknown key ID.
	ErrKeyNotFound = errors.New("key not found")
	// ErrInvalidConfig wraps every error NewKeyPool and Update return for a
	// bad PoolConfig.
	ErrInvalidConfig = errors.New("invalid pool config")
)

// TooLargeError is Acquire's error for a request that no key could ever
// take: its input estimate is larger than the per-minute input limit of its
// model class on every key. The provider would refuse it however long it
// waited, so it is not queued and cools nothing.
type TooLargeError struct {
	InputTokens int64  // the request's input estimate
	Class       string // its model class
}

// Error implements error.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the request's estimated %d input tokens exceed the per-minute input limit of model class %q on every key",
		e.InputTokens, e.Class)
}

// ExhaustedError says when the pool expects to have capacity again.
// errors.Is(err, ErrAllKeysExhausted) holds for it, and so does
// errors.Is(err, ctx.Err()) when the wait ended because ctx did.
type ExhaustedError struct {
	// RetryAfter is how long until some key can take the request: the
	// minimum over keys of the longest of the key's cooldown and the refill
	// of each of its limit dimensions the request needs. Always > 0.
	RetryAfter time.Duration
	// Cause is the context's error when a queued wait ended with it, or
	// ErrQueueFull when the request was not allowed to wait.
	Cause error
	// Booked says the pool booked capacity at RetryAfter for the client's
	// retry (see AcquireOptions.Retry): the advice must not be shortened.
	Booked bool
}

// Error implements error.
func (e *ExhaustedError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s (retry after %s): %v", ErrAllKeysExhausted, e.RetryAfter, e.Cause)
	}
	return fmt.Sprintf("%s (retry after %s)", ErrAllKeysExhausted, e.RetryAfter)
}

// Unwrap lets errors.Is see ErrAllKeysExhausted and the cause.
func (e *ExhaustedError) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrAllKeysExhausted, e.Cause}
	}
	return []error{ErrAllKeysExhausted}
}
