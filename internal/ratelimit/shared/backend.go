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

package shared

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// Defaults of Options.
const (
	DefaultTimeout       = 250 * time.Millisecond
	DefaultTTL           = time.Hour
	DefaultProbeInterval = time.Second
	DefaultPrefix        = "keypool:"
)

// asyncQueueLen bounds the settles and observations waiting for Redis.
// Beyond it they are dropped (and counted): the shared buckets refill on
// their own within one window, so a lost settle costs accuracy for at most
// that long, while waiting would block a request.
const asyncQueueLen = 8192

// asyncBatch is the most operations sent in one pipelined round trip.
const asyncBatch = 128

// Options configures limits shared through Redis.
type Options struct {
	// Timeout bounds every Redis call; a call that takes longer counts as
	// Redis being unavailable. 0 means DefaultTimeout.
	Timeout time.Duration
	// Replicas is how many replicas share the limits: while Redis is
	// unavailable each replica keeps local limits at limit / Replicas.
	// <= 0 means 1.
	Replicas int
	// Prefix starts every Redis key; "" means DefaultPrefix.
	Prefix string
	// TTL is how long an idle limiter's state stays in Redis (at least two
	// windows). 0 means DefaultTTL.
	TTL time.Duration
	// ProbeInterval is how often Redis is probed with PING, to see it gone
	// while idle and back after an outage. 0 means DefaultProbeInterval.
	ProbeInterval time.Duration
	// Window is the period limits are expressed over; 0 means Window. Only
	// tests shorten it, to see several windows in seconds.
	Window time.Duration
	// OnDegraded is called when Redis becomes unavailable (true, with the
	// error) and when it is back (false, nil), in that order, never
	// concurrently with itself. It must return quickly.
	OnDegraded func(degraded bool, err error)
	// OnCallError is called when Redis answers one limiter's call with an
	// error about that call (a corrupt value, WRONGTYPE, a script error):
	// that limiter alone serves from its fallback until the next probe
	// interval, while Redis stays available to every other one. It is
	// called at most once per limiter and CallErrorInterval, with the
	// limiter's Redis key. It must return quickly.
	OnCallError func(key string, err error)
}

// Outage detection has hysteresis, so that a burst of slow or failed calls
// does not flip every pool's status: an outage starts after outageAfter
// failures in a row (calls and probes; any answer in between starts the
// count again) spanning at least one probe interval, and ends after
// recoverAfter probes in a row answered.
const (
	outageAfter  = 3
	recoverAfter = 3
)

// CallErrorInterval is how often at most OnCallError reports one limiter.
const CallErrorInterval = time.Minute

// Backend is one connection to Redis shared by every limiter of the
// process: it runs the calls, sends settles and observations in the
// background, and tracks whether Redis is available.
type Backend struct {
	client   redis.UniversalClient
	timeout  time.Duration
	replicas int64
	prefix   string
	window   time.Duration
	probe    time.Duration
	onChange func(bool, error)
	onCall   func(string, error)

	// The constant script arguments, formatted once.
	windowArg, ttlArg string

	degraded   atomic.Bool
	failures   atomic.Int32  // outage-class failures in a row
	failSince  atomic.Int64  // Unix ns of the first of them; 0: none
	outages    atomic.Uint64 // incremented when an outage starts
	dropped    atomic.Uint64
	callErrors atomic.Uint64
	notifyMu   sync.Mutex

	queue chan asyncOp
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// asyncOp is one script call the caller does not wait for.
type asyncOp struct {
	lim  *Limiter
	now  time.Time
	args []any
	done chan struct{} // Flush's marker: closed when reached, nothing sent
}

// NewBackend returns a backend using client. Close stops it (the
// client stays open: it is the caller's). The client should have
// ContextTimeoutEnabled set (ParseRedisURL does) so that calls end at the
// timeout.
func NewBackend(client redis.UniversalClient, opts Options) *Backend {
	b := &Backend{
		client:   client,
		timeout:  opts.Timeout,
		replicas: int64(max(opts.Replicas, 1)),
		prefix:   opts.Prefix,
		window:   opts.Window,
		probe:    opts.ProbeInterval,
		onChange: opts.OnDegraded,
		onCall:   opts.OnCallError,
		queue:    make(chan asyncOp, asyncQueueLen),
		stop:     make(chan struct{}),
	}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	if b.prefix == "" {
		b.prefix = DefaultPrefix
	}
	if b.window <= 0 {
		b.window = ratelimit.Window
	}
	if b.probe <= 0 {
		b.probe = DefaultProbeInterval
	}
	ttl := opts.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	ttl = max(ttl, 2*b.window)
	b.windowArg = strconv.FormatInt(b.window.Microseconds(), 10)
	b.ttlArg = strconv.FormatInt(ttl.Milliseconds(), 10)
	b.warm()
	b.wg.Add(2)
	go b.run()
	go b.monitor()
	return b
}

// warmTimeout bounds the first contact, which dials and loads the script:
// longer than a call's timeout, which a cold start would otherwise exceed.
const warmTimeout = 2 * time.Second

// warm connects and loads the script before the first request needs them;
// a Redis that does not answer starts an outage at once.
func (b *Backend) warm() {
	ctx, cancel := context.WithTimeout(context.Background(), max(warmTimeout, b.timeout))
	defer cancel()
	if err := script.Load(ctx, b.client).Err(); err != nil {
		b.startOutage(err)
	}
}

// Close stops the background work. Limiters made by b keep working on their
// local fallback.
func (b *Backend) Close() {
	b.once.Do(func() {
		close(b.stop)
		b.degraded.Store(true)
		b.outages.Add(1)
	})
	b.wg.Wait()
}

// Degraded reports whether Redis is unavailable, so that limiters use their
// local fallback.
func (b *Backend) Degraded() bool { return b.degraded.Load() }

// CallErrors is the number of calls Redis answered with an error about
// that call alone (see Options.OnCallError).
func (b *Backend) CallErrors() uint64 { return b.callErrors.Load() }

// Dropped is the number of settles and observations that could not be sent
// because the queue was full.
func (b *Backend) Dropped() uint64 { return b.dropped.Load() }

// Factory returns a Factory whose limiters keep their state in Redis under
// scope (for instance a pool's namespace/name); ids are unique within it.
func (b *Backend) Factory(scope string) ratelimit.Factory {
	return func(id string, now time.Time, limits ratelimit.Amounts) (ratelimit.Limiter, error) {
		return b.NewLimiter(scope+"/"+id, now, limits)
	}
}

// NewLimiter returns the shared limiter named name (every replica that
// names it alike shares it), with the given configured limits.
func (b *Backend) NewLimiter(name string, now time.Time, limits ratelimit.Amounts) (*Limiter, error) {
	if err := ratelimit.ValidateLimits(limits); err != nil {
		return nil, err
	}
	// The braces make the whole name the hash tag, so that every key of one
	// limiter lands in one Redis Cluster slot.
	s := &Limiter{b: b, key: b.prefix + "{" + strings.ReplaceAll(name, "}", "_") + "}", configured: limits}
	s.fullAt.Store(ratelimit.Always)
	s.readyAt.Store(ratelimit.Always)
	return s, nil
}

// call runs the script once, bounded by the timeout.
func (b *Backend) call(key string, args []any) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	v, err := script.Run(ctx, b.client, []string{key}, args...).Result()
	if err == nil {
		b.answered()
	}
	return v, err
}

// answered records that Redis answered: the failures counted towards an
// outage start again from zero.
func (b *Backend) answered() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
		b.failSince.Store(0)
	}
}

// fail records a failed call or probe. An error about the call alone
// (isCallError) is not Redis failing and counts for nothing here; other
// failures start an outage once outageAfter of them came in a row over a
// probe interval at least.
func (b *Backend) fail(err error) {
	if isCallError(err) {
		return
	}
	now := time.Now().UnixNano()
	b.failSince.CompareAndSwap(0, now)
	if b.failures.Add(1) >= outageAfter && now-b.failSince.Load() >= int64(b.probe) {
		b.startOutage(err)
	}
}

// startOutage marks Redis unavailable, telling OnDegraded once; the monitor
// ends it.
func (b *Backend) startOutage(err error) {
	if !b.degraded.CompareAndSwap(false, true) {
		return
	}
	b.outages.Add(1)
	b.notify(true, err)
}

// callError counts an error Redis answered about one limiter's call and
// reports it, at most once per CallErrorInterval for that limiter (last is
// when it was last reported; the caller holds the limiter's lock).
func (b *Backend) callError(key string, err error, now time.Time, last *time.Time) {
	b.callErrors.Add(1)
	if b.onCall == nil || (!last.IsZero() && now.Sub(*last) < CallErrorInterval) {
		return
	}
	*last = now
	b.onCall(key, err)
}

func (b *Backend) notify(degraded bool, err error) {
	if b.onChange == nil {
		return
	}
	b.notifyMu.Lock()
	defer b.notifyMu.Unlock()
	b.onChange(degraded, err)
}

// monitor PINGs Redis every probe interval: failures start an outage even
// while no request needs Redis (so that an idle replica reports it), and
// recoverAfter answers in a row within the timeout end one.
func (b *Backend) monitor() {
	defer b.wg.Done()
	t := time.NewTicker(b.probe)
	defer t.Stop()
	answers := 0
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		err := b.client.Ping(ctx).Err()
		cancel()
		if err != nil {
			answers = 0
			b.fail(err)
			continue
		}
		b.answered()
		if answers++; answers >= recoverAfter && b.degraded.CompareAndSwap(true, false) {
			b.notify(false, nil)
		}
	}
}

// Flush waits until everything queued before it was sent to Redis (or
// dropped because Redis is unavailable), or timeout passes; it reports
// whether it got there.
func (b *Backend) Flush(timeout time.Duration) bool {
	done := make(chan struct{})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case b.queue <- asyncOp{done: done}:
	case <-t.C:
		return false
	}
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// enqueue hands op to the background sender; a full queue drops it.
func (b *Backend) enqueue(op asyncOp) {
	select {
	case b.queue <- op:
	default:
		b.dropped.Add(1)
	}
}

// run sends queued operations, pipelining what has piled up into one round
// trip.
func (b *Backend) run() {
	defer b.wg.Done()
	batch := make([]asyncOp, 0, asyncBatch)
	for {
		select {
		case <-b.stop:
			return
		case op := <-b.queue:
			batch = append(batch[:0], op)
		}
		var done chan struct{}
	fill:
		for len(batch) < asyncBatch && batch[len(batch)-1].done == nil {
			select {
			case op := <-b.queue:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		if last := batch[len(batch)-1]; last.done != nil {
			done, batch = last.done, batch[:len(batch)-1]
		}
		// While Redis is away the batch is dropped: the buckets there
		// refill on their own.
		if len(batch) > 0 && !b.degraded.Load() {
			b.send(batch)
		}
		clear(batch)
		if done != nil {
			close(done)
		}
	}
}

// send runs a batch in one pipeline; scripts Redis no longer knows (after a
// restart) are loaded and the batch sent again.
func (b *Backend) send(batch []asyncOp) {
	cmds, err := b.pipeline(batch, false)
	if err != nil && isNoScript(err) {
		cmds, err = b.pipeline(batch, true)
	}
	if err != nil && !isCallError(err) {
		b.fail(err)
		return
	}
	b.answered()
	for i, c := range cmds {
		op := batch[i]
		v, cerr := c.Result()
		if cerr == nil {
			var st sharedState
			if st, cerr = parseState(v, op.now, b.window); cerr == nil {
				op.lim.store(st)
				continue
			}
		} else if !isCallError(cerr) {
			continue // Exec's error, counted above
		}
		op.lim.callFailed(op.now, cerr)
	}
}

func (b *Backend) pipeline(batch []asyncOp, load bool) ([]*redis.Cmd, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	if load {
		if err := script.Load(ctx, b.client).Err(); err != nil {
			return nil, err
		}
	}
	pipe := b.client.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, op := range batch {
		cmds[i] = script.EvalSha(ctx, pipe, []string{op.lim.key}, op.args...)
	}
	_, err := pipe.Exec(ctx)
	return cmds, err
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// isCallError reports an error about one call alone, which Redis answered
// (a script error on a corrupt value, WRONGTYPE), as opposed to Redis failing as a whole (no answer, a broken
// connection, a timeout, a server loading, read-only, out of memory or
// refusing our credentials, a cluster down or redirecting a client not in
// cluster mode), which is an outage.
func isCallError(err error) bool {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	if _, moved := redis.IsMovedError(err); moved {
		return false
	}
	if _, ask := redis.IsAskError(err); ask {
		return false
	}
	return !isNoScript(err) && !redis.IsLoadingError(err) && !redis.IsReadOnlyError(err) &&
		!redis.IsClusterDownError(err) && !redis.IsTryAgainError(err) && !redis.IsMasterDownError(err) &&
		!redis.IsMaxClientsError(err) && !redis.IsAuthError(err) && !redis.IsPermissionError(err) &&
		!redis.IsOOMError(err) && !redis.HasErrorPrefix(err, "BUSY")
}
