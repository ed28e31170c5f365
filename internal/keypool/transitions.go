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

// record sets k's state and queues the transition for the callback.
// p.mu is held.
func (p *KeyPool) record(k *keyMetadata, to State, reason string) {
	from := k.state
	k.state = to
	if p.onTransition != nil && from != "" {
		p.pending = append(p.pending, Transition{KeyID: k.id, From: from, To: to, Reason: reason})
	}
}

// deliver calls the transition callback for queued transitions, without
// p.mu held, in the order they were recorded. One goroutine delivers at a
// time; a goroutine that finds another delivering leaves its transitions to
// it, so a callback that calls back into the pool cannot deadlock.
func (p *KeyPool) deliver() {
	for {
		if !p.deliverMu.TryLock() {
			return
		}
		p.mu.Lock()
		batch, cb := p.pending, p.onTransition
		p.pending = nil
		p.mu.Unlock()
		if cb != nil {
			for _, t := range batch {
				cb(t)
			}
		}
		p.deliverMu.Unlock()
		p.mu.Lock()
		more := len(p.pending) > 0
		p.mu.Unlock()
		if !more {
			return
		}
	}
}
