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
