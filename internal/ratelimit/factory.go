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

package ratelimit

import "time"

// Factory makes the limiter named id with the given configured limits; the
// pool calls it for every key and limit group it creates. Limiters that one
// Factory makes with the same id share their state (in another process too,
// when the factory is a shared.Backend's).
type Factory func(id string, now time.Time, limits Amounts) (Limiter, error)

// LocalFactory makes Local limiters: each one is this process's alone.
func LocalFactory(_ string, now time.Time, limits Amounts) (Limiter, error) {
	return NewLocal(now, limits)
}
