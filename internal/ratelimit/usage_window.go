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

// usageWindow estimates what was used in the last Window while a dimension's
// limit was unknown, so that the limit, once learned, does not start from a
// full bucket. It is the usual sliding-window counter: the current fixed
// window's count plus the previous one's, weighted by how much of it still
// overlaps the sliding window.
type usageWindow struct {
	start int64 // Unix nanoseconds; start of the current fixed window
	cur   float64
	prev  float64
}

func (w *usageWindow) roll(t int64) {
	win := Window.Nanoseconds()
	if t < w.start+win {
		return
	}
	if t < w.start+2*win {
		w.prev = w.cur
	} else {
		w.prev = 0
	}
	w.cur = 0
	w.start = t - (t-w.start)%win
}

// add records n units used (negative: returned) at t.
func (w *usageWindow) add(t time.Time, n float64) {
	w.roll(t.UnixNano())
	w.cur += n
}

// used estimates the units used in the Window before t.
func (w *usageWindow) used(t time.Time) float64 {
	now := t.UnixNano()
	w.roll(now)
	frac := float64(now-w.start) / float64(Window.Nanoseconds())
	return max(w.prev*(1-frac)+w.cur, 0)
}
