package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Local is a Limiter kept in this process's memory.
type Local struct {
	mu sync.Mutex
	b  [NumDimensions]bucket

	// The outlook is recomputed after every change, under mu, and read
	// without it: the pool reads it after every operation on the hot path.
	fullAt  atomic.Int64 // Unix nanoseconds; always = no known limit
	readyAt atomic.Int64
}

var _ Limiter = (*Local)(nil)

// NewLocal returns a limiter with the given configured per-minute limits
// (0 = unknown), every known dimension starting full.
func NewLocal(now time.Time, limits Amounts) (*Local, error) {
	if err := ValidateLimits(limits); err != nil {
		return nil, err
	}
	l := &Local{}
	l.mu.Lock()
	defer l.mu.Unlock()
	for d := range l.b {
		l.b[d].setLimits(now, limits[d], 0)
	}
	l.refresh(now)
	return l, nil
}

// ValidateLimits reports a negative limit.
func ValidateLimits(limits Amounts) error {
	for d, v := range limits {
		if v < 0 {
			return fmt.Errorf("negative %s limit %d", Dimension(d), v)
		}
	}
	return nil
}

// takes is what a request with the given input estimate takes per
// dimension up front: one request, and the estimate from both input-counting
// dimensions. Output is charged by Settle.
func takes(inputTokens int64) Amounts {
	inputTokens = max(inputTokens, 0)
	return Amounts{Requests: 1, InputTokens: inputTokens, Tokens: inputTokens}
}

// Reserve implements Limiter.
func (l *Local) Reserve(now time.Time, inputTokens int64) (Reservation, bool) {
	take := takes(inputTokens)
	l.mu.Lock()
	defer l.mu.Unlock()
	for d := range l.b {
		if !l.b[d].has(now, take[d]) {
			return Reservation{}, false
		}
	}
	var r Reservation
	for d := range l.b {
		b := &l.b[d]
		if take[d] == 0 {
			continue
		}
		b.debit(now, take[d])
		if b.known() {
			r.Taken[d] = take[d]
			b.mark(now)
		}
	}
	l.publish()
	return r, true
}

// Settle implements Limiter.
func (l *Local) Settle(now time.Time, r Reservation, u Usage) {
	in, out := max(u.InputTokens, 0), max(u.OutputTokens, 0)
	var delta Amounts
	if r.Absorbed&(1<<InputTokens) == 0 {
		delta[InputTokens] = in - r.Taken[InputTokens]
	}
	delta[OutputTokens] = out - r.Taken[OutputTokens]
	delta[Tokens] = out - r.Taken[OutputTokens]
	if r.Absorbed&(1<<Tokens) == 0 {
		delta[Tokens] += in - r.Taken[Tokens]
	}
	if delta == (Amounts{}) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for d := range l.b {
		if delta[d] != 0 {
			l.b[d].adjust(now, delta[d])
			l.b[d].mark(now)
		}
	}
	l.publish()
}

// Observe implements Limiter.
func (l *Local) Observe(now time.Time, obs Observations) uint8 {
	seen := false
	for _, o := range obs {
		seen = seen || o.Reported()
	}
	if !seen {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var lowered uint8
	for d := range l.b {
		if !obs[d].Reported() {
			continue
		}
		if l.b[d].observe(now, obs[d]) {
			lowered |= 1 << d
		}
		l.b[d].mark(now)
	}
	l.publish()
	return lowered
}

// SetLimits implements Limiter.
func (l *Local) SetLimits(now time.Time, limits Amounts) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for d := range l.b {
		l.b[d].setLimits(now, limits[d], l.b[d].learned)
	}
	l.refresh(now)
}

// TimeToCapacity implements Limiter.
func (l *Local) TimeToCapacity(now time.Time, inputTokens int64) (time.Duration, Dimension) {
	take := takes(inputTokens)
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	dim := Dimension(-1)
	for d := range l.b {
		b := &l.b[d]
		if !b.known() {
			continue
		}
		if w := b.wait(b.level(now), b.need(take[d])); w > longest {
			longest, dim = w, Dimension(d)
		}
	}
	return longest, dim
}

// Outlook implements Limiter.
func (l *Local) Outlook() Outlook {
	return Outlook{FullAt: fromNanos(l.fullAt.Load()), ReadyAt: fromNanos(l.readyAt.Load())}
}

// Snapshot implements Limiter.
func (l *Local) Snapshot(now time.Time) Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s Snapshot
	for d := range l.b {
		b := &l.b[d]
		ds := &s.Dimensions[d]
		ds.Limit, ds.Configured, ds.Learned, ds.ResetAt = b.limit, b.configured, b.learned, b.resetAt
		ds.Remaining = -1
		if !b.known() {
			continue
		}
		lv := b.level(now)
		ds.Remaining = max(int64(lv+eps), 0)
		ds.Wait = b.wait(lv, 1)
		ds.FullAt = fromNanos(b.fullAt(now, lv))
	}
	return s
}

// refresh recomputes every dimension's cached times and publishes the
// outlook; l.mu is held.
func (l *Local) refresh(now time.Time) {
	for d := range l.b {
		l.b[d].mark(now)
	}
	l.publish()
}

// publish stores the outlook from the dimensions' cached times; l.mu is held.
func (l *Local) publish() {
	full, ready := int64(always), int64(always)
	for d := range l.b {
		full = max(full, l.b[d].full)
		ready = max(ready, l.b[d].ready)
	}
	l.fullAt.Store(full)
	l.readyAt.Store(ready)
}

func fromNanos(ns int64) time.Time {
	if ns == always {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
