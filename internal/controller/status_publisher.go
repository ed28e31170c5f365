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

package controller

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// maxPendingTransitions bounds the key transitions kept for Events per pool,
// so that a replica that never leads (and so never drains them) stays small.
const maxPendingTransitions = 32

// report is what the last reconcile of a KeyPool found.
type report struct {
	generation int64
	endpoint   string
	upstream   string // the resolved upstream, "" when refused
	problems   []problem
}

func (r report) equal(o report) bool {
	return r.generation == o.generation && r.endpoint == o.endpoint && r.upstream == o.upstream &&
		slices.Equal(r.problems, o.problems)
}

// poolRecord is the publisher's memory of one KeyPool.
type poolRecord struct {
	report      report
	reportDirty bool // the report changed and is not written yet
	lastWrite   time.Time
	transitions []keypool.Transition
	announced   []problem // problems already sent as Events
}

// StatusPublisher writes each KeyPool's status (conditions, endpoint, live
// pool statistics) and its Events. With ElectLeader it writes only while its
// replica leads, so that one replica writes; what reconciles find is written at once, while statistics
// are written at most once per interval per pool, and only when they changed.
type StatusPublisher struct {
	client   client.Client
	recorder events.EventRecorder
	registry *keypool.Registry
	interval time.Duration
	log      logr.Logger
	election *LeaderElection              // nil: publish on this replica unconditionally
	shared   atomic.Pointer[SharedLimits] // nil: local limits

	wake  chan struct{}
	mu    sync.Mutex
	pools map[types.NamespacedName]*poolRecord
}

// NewStatusPublisher returns a publisher; add it to the manager with mgr.Add.
func NewStatusPublisher(c client.Client, recorder events.EventRecorder, registry *keypool.Registry,
	interval time.Duration, log logr.Logger) *StatusPublisher {
	return &StatusPublisher{
		client:   c,
		recorder: recorder,
		registry: registry,
		interval: interval,
		log:      log,
		wake:     make(chan struct{}, 1),
		pools:    make(map[types.NamespacedName]*poolRecord),
	}
}

// NeedLeaderElection is false: the publisher runs on every replica and,
// when ElectLeader was called, elects its own leader (see LeaderElection).
func (p *StatusPublisher) NeedLeaderElection() bool { return false }

// ElectLeader makes only the replica holding the Lease publish.
func (p *StatusPublisher) ElectLeader(le *LeaderElection) { p.election = le }

// Start publishes until ctx is done: always, or while leading.
func (p *StatusPublisher) Start(ctx context.Context) error {
	if p.election == nil {
		p.run(ctx)
		return nil
	}
	return p.election.campaign(ctx, p.log, p.run)
}

// run publishes until ctx is done.
func (p *StatusPublisher) run(ctx context.Context) {
	// Ticking at half the interval keeps a pool's statistics at most about
	// one interval old while never writing them more often than that.
	ticker := time.NewTicker(max(p.interval/2, 10*time.Millisecond))
	defer ticker.Stop()
	p.publish(ctx) // a new leader writes what it already knows at once
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-p.wake:
		}
		p.publish(ctx)
	}
}

// observe records what a reconcile found; it is written at once.
func (p *StatusPublisher) observe(nn types.NamespacedName, r report) {
	p.mu.Lock()
	rec := p.record(nn)
	changed := !rec.report.equal(r)
	if changed {
		rec.report = r
		rec.reportDirty = true
	}
	p.mu.Unlock()
	if changed {
		p.poke()
	}
}

// track starts the record of nn before its pool is built, so that the
// pool's first transitions are kept.
func (p *StatusPublisher) track(nn types.NamespacedName) {
	p.mu.Lock()
	p.record(nn)
	p.mu.Unlock()
}

// forget drops a deleted KeyPool.
func (p *StatusPublisher) forget(nn types.NamespacedName) {
	p.mu.Lock()
	delete(p.pools, nn)
	p.mu.Unlock()
}

// transitionRecorder returns the pool's OnTransition callback: transitions
// become Events on the next pass.
func (p *StatusPublisher) transitionRecorder(nn types.NamespacedName) func(keypool.Transition) {
	return func(t keypool.Transition) {
		if eventFor(t) == nil {
			return
		}
		p.mu.Lock()
		rec, ok := p.pools[nn]
		if !ok {
			// The KeyPool was deleted (forget): requests still in flight on
			// its pool must not bring its record back for good.
			p.mu.Unlock()
			return
		}
		if len(rec.transitions) == maxPendingTransitions {
			rec.transitions = rec.transitions[1:]
		}
		rec.transitions = append(rec.transitions, t)
		p.mu.Unlock()
		p.poke()
	}
}

func (p *StatusPublisher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// record returns nn's record, creating it; p.mu must be held.
func (p *StatusPublisher) record(nn types.NamespacedName) *poolRecord {
	rec, ok := p.pools[nn]
	if !ok {
		rec = &poolRecord{}
		p.pools[nn] = rec
	}
	return rec
}

// pending is one pool's work for a pass, taken under the lock.
type pending struct {
	nn          types.NamespacedName
	report      report
	writeStatus bool // else only Events are due
	transitions []keypool.Transition
	newProblems []problem
}

// publish writes every pool whose report changed, whose statistics are due,
// or that has Events to send.
func (p *StatusPublisher) publish(ctx context.Context) {
	now := time.Now()
	var work []pending
	p.mu.Lock()
	for nn, rec := range p.pools {
		if rec.report.generation == 0 {
			continue // tracked, not observed yet: nothing true to write
		}
		writeStatus := rec.reportDirty || now.Sub(rec.lastWrite) >= p.interval
		if !writeStatus && len(rec.transitions) == 0 {
			continue
		}
		w := pending{nn: nn, report: rec.report, writeStatus: writeStatus, transitions: rec.transitions}
		if rec.reportDirty {
			w.newProblems = unannounced(rec.report.problems, rec.announced)
			rec.announced = rec.report.problems
		}
		if writeStatus {
			rec.lastWrite = now
		}
		rec.reportDirty = false
		rec.transitions = nil
		work = append(work, w)
	}
	p.mu.Unlock()

	failed := 0
	defer func() { publishedAt(now, failed) }()
	for _, w := range work {
		if err := p.write(ctx, w); err != nil {
			failed++
			p.log.Error(err, "writing keypool status", "keypool", w.nn.String())
			p.mu.Lock()
			if rec, ok := p.pools[w.nn]; ok {
				rec.reportDirty = true // try again on the next pass
			}
			p.mu.Unlock()
		}
	}
}

func (p *StatusPublisher) write(ctx context.Context, w pending) error {
	var kp llmv1alpha1.KeyPool
	if err := p.client.Get(ctx, w.nn, &kp); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	for _, pr := range w.newProblems {
		p.recorder.Eventf(&kp, nil, corev1.EventTypeWarning, pr.reason, "Reconcile", "%s", pr.message)
	}
	for _, t := range w.transitions {
		e := eventFor(t)
		p.recorder.Eventf(&kp, nil, e.eventType, e.reason, e.action, "key %s: %s", t.KeyID, t.Reason)
	}
	if !w.writeStatus {
		return nil
	}

	var stats *keypool.PoolStats
	var clients []keypool.ClientStats
	pool, ok := p.registry.Get(w.nn.Namespace, w.nn.Name)
	if ok {
		s := pool.GetStats()
		stats = &s
		clients = pool.ClientStats()
	}
	status := desiredStatus(kp.Status, p.withSharedLimits(w.report), stats)
	status.Clients, status.OmittedClients = clientStatuses(clients)
	if equality.Semantic.DeepEqual(status, kp.Status) {
		return nil
	}
	patch := client.MergeFrom(kp.DeepCopy())
	kp.Status = status
	// A merge patch without resourceVersion never conflicts: this publisher
	// is the only writer of the status.
	return client.IgnoreNotFound(p.client.Status().Patch(ctx, &kp, patch))
}

// unannounced returns the problems of now that were not in before.
func unannounced(now, before []problem) []problem {
	var out []problem
	for _, pr := range now {
		found := false
		for _, b := range before {
			if b == pr {
				found = true
				break
			}
		}
		if !found {
			out = append(out, pr)
		}
	}
	return out
}

// keyEvent is how a key transition is reported as an Event.
type keyEvent struct {
	eventType, reason, action string
}

// eventFor maps the transitions that matter to a user to Events: rejected,
// cooling down, recovered. RateLimited comes and goes with local accounting
// under load and would only be noise.
func eventFor(t keypool.Transition) *keyEvent {
	switch {
	case t.To == keypool.StateRejected:
		return &keyEvent{corev1.EventTypeWarning, llmv1alpha1.EventReasonKeyRejected, "Reject"}
	case t.To == keypool.StateCoolingDown:
		return &keyEvent{corev1.EventTypeWarning, llmv1alpha1.EventReasonKeyCoolingDown, "CoolDown"}
	case t.To == keypool.StateAvailable && (t.From == keypool.StateRejected || t.From == keypool.StateCoolingDown):
		return &keyEvent{corev1.EventTypeNormal, llmv1alpha1.EventReasonKeyRecovered, "Recover"}
	}
	return nil
}
