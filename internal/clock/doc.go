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

// Package clock is the project's one notion of time: the Clock the pool's
// limiters and the fake provider's buckets read, the TimerClock a pool times
// queued waits with, and two implementations — Real (the wall clock) and
// Fake (a test's time that moves only when told to); the simulations'
// faster clock is bench/internal/scaledclock. It imports only the standard
// library, so the pure domain packages can use it.
package clock
