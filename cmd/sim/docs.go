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

package main

import (
	"fmt"
	"slices"
	"strings"
)

// docsSection is the part of the results meant for docs/performance.md: a
// summary per configuration and demand (ranges over the four strategies),
// what this run measured in sentences built from its numbers, and what in
// the engine makes the difference.
func (r *report) docsSection() string {
	var b strings.Builder
	demands := r.demands()
	b.WriteString("## Section for docs/performance.md: pooling efficiency\n\n")
	fmt.Fprintf(&b, "`make sim` drives the real proxy and pool against the fake provider (six keys: two organisations "+
		"of two keys sharing one limit, two independent keys; different RPM/ITPM/OTPM per organisation; buckets "+
		"start empty) with a mixed workload at %s of the keys' aggregate capacity, and compares it "+
		"with today's practice of one key per client. Capacity is counted as the share of each organisation's "+
		"binding limit consumed, so long prompts cannot be starved to flatter the numbers. Ranges are over the "+
		"strategies run.\n\n", joinPercents(demands))
	b.WriteString("| configuration | demand | capacity delivered | upstream 429s | client 429s | other client errors | " +
		"1st retry at Retry-After ok |\n")
	b.WriteString("|---|---:|---|---|---|---:|---|\n")
	for _, d := range demands {
		for _, mode := range []string{modePinned, modeLearned, modeGrouped} {
			s := r.summarize(d, mode)
			if s.n == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %.0f%% | %s | %s | %s | %d | %s |\n", modeLabel(mode), d*100,
				rangeOf(s.capLo, s.capHi, pct), rangeOf(s.up429Lo, s.up429Hi, pct),
				rangeOf(float64(s.c429Lo), float64(s.c429Hi), func(f float64) string { return fmt.Sprintf("%.0f", f) }),
				s.errors, s.retry())
		}
	}
	b.WriteString("\n")
	b.WriteString(r.findings())
	b.WriteString("\n")
	b.WriteString(engineNotes)
	return b.String()
}

// demands returns the demand levels of the run, in increasing order.
func (r *report) demands() []float64 {
	var out []float64
	for _, x := range r.Results {
		if x.Clients == nil && !slices.Contains(out, x.Demand) {
			out = append(out, x.Demand)
		}
	}
	slices.Sort(out)
	return out
}

// summarize aggregates the results of one demand and configuration.
func (r *report) summarize(demand float64, mode string) summary {
	var s summary
	for _, x := range r.Results {
		if x.Mode == mode && x.Demand == demand {
			s.add(x)
		}
	}
	return s
}

// findings is what this run measured, each sentence computed from its
// results: the pools' client-visible failures at or below capacity, the
// learned pool's count of its request limits, the grouped pool's upstream
// 429s and the retries above capacity.
func (r *report) findings() string {
	var b strings.Builder
	b.WriteString("In this run:\n\n")
	for _, d := range r.demands() {
		var served, errs, c429, noRA, n, runs int
		for _, x := range r.Results {
			if x.Demand == d && x.Mode != modePinned && x.Clients == nil {
				runs++
				served += x.ClientOK
				n += x.ClientRequests
				errs += x.ClientErrors
				c429 += x.Client429s
				noRA += x.Client429NoRA
			}
		}
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, "- At %.0f%% demand the %d pool runs together served %d of %d client requests (%s); clients "+
			"received %d 429 answers, retries included (%d of them without Retry-After), and %d requests failed otherwise.\n",
			d*100, runs, served, n, pct(float64(served)/float64(n)), c429, noRA, errs)
	}
	var lo, hi int64
	for _, x := range r.Results {
		if x.Mode == modeLearned && x.PoolRPM > 0 {
			if lo == 0 || x.PoolRPM < lo {
				lo = x.PoolRPM
			}
			hi = max(hi, x.PoolRPM)
		}
	}
	if hi > 0 {
		fmt.Fprintf(&b, "- The pool with nothing configured ended with a request-limit total of %s per minute "+
			"(the organisations' true total is %d): more means it counts a shared limit once per key.\n",
			rangeOf(float64(lo), float64(hi), func(f float64) string { return fmt.Sprintf("%.0f", f) }), trueTotalRPM())
	}
	if ds := r.demands(); len(ds) > 0 {
		top := ds[len(ds)-1]
		if s := r.summarize(top, modeGrouped); s.n > 0 {
			fmt.Fprintf(&b, "- At %.0f%% demand with `limitGroup` configured, %s of upstream requests were answered 429, "+
				"and the first retry at the advised time succeeded for %s.\n",
				top*100, rangeOf(s.up429Lo, s.up429Hi, pct), s.retry())
		}
	}
	return b.String()
}

// joinPercents renders demands as "50%, 100% and 150%".
func joinPercents(ds []float64) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.0f%%", d*100)
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func modeLabel(mode string) string {
	switch mode {
	case modePinned:
		return "one key per client (baseline)"
	case modeLearned:
		return "pool, nothing configured (limits and organisations learned)"
	default:
		return "pool, `limitGroup` configured (limits learned)"
	}
}

// summary aggregates one configuration and demand over the strategies.
type summary struct {
	n                      int
	capLo, capHi           float64
	up429Lo, up429Hi       float64
	c429Lo, c429Hi, errors int
	retries                int
	retryOK                float64
}

func (s *summary) add(x *result) {
	if s.n == 0 {
		s.capLo, s.capHi, s.up429Lo, s.up429Hi = x.Capacity, x.Capacity, x.Upstream429Share, x.Upstream429Share
		s.c429Lo, s.c429Hi = x.Client429s, x.Client429s
	}
	s.n++
	s.capLo, s.capHi = min(s.capLo, x.Capacity), max(s.capHi, x.Capacity)
	s.up429Lo, s.up429Hi = min(s.up429Lo, x.Upstream429Share), max(s.up429Hi, x.Upstream429Share)
	s.c429Lo, s.c429Hi = min(s.c429Lo, x.Client429s), max(s.c429Hi, x.Client429s)
	s.errors += x.ClientErrors
	s.retries += x.FirstRetries
	s.retryOK += x.FirstRetryOK * float64(x.FirstRetries)
}

func (s *summary) retry() string {
	if s.retries == 0 {
		return "- (no 429s)"
	}
	return fmt.Sprintf("%s of %d", pct(s.retryOK/float64(s.retries)), s.retries)
}

func rangeOf(lo, hi float64, f func(float64) string) string {
	if f(lo) == f(hi) {
		return f(lo)
	}
	return f(lo) + " - " + f(hi)
}

// engineNotes explains the mechanisms behind the numbers.
const engineNotes = `What makes the difference:

- **Queueing instead of failing.** A request that finds no key with capacity waits in the pool
  (up to ` + "`queueTimeout`" + `) and is woken when capacity returns; a pinned client instead gets the
  429 of its own key while other keys may idle.
- **Limits learned in place from headers.** Every response's rate-limit headers cap the local
  buckets; nothing is configured in the *learned* rows.
- **Organisations learned from the provider.** Anthropic names a key's organisation in
  ` + "`anthropic-organization-id`" + ` (OpenAI: ` + "`openai-organization`" + `). Keys without a configured
  ` + "`limitGroup`" + ` that report the same organisation are put into one limit group (shown as
  ` + "`org:<id>`" + ` in the key's status), so the pool stops counting one organisation's limit once per
  key.
- **Proactive output-token reservation.** Providers refuse a request while the output bucket is
  empty but charge output only as it is generated. The limiter now holds each request's expected
  output (a moving average of what settled requests produced) from acquire to settle, and when it syncs
  with a provider's remaining count it subtracts the expected output of requests still in flight, which
  the provider has not charged yet.
- **Retry-After behind the queue.** A request turned away after waiting is told to come back when
  some key has capacity for it *and* not before the requests still queued are likely to have been
  served (their number over the pool's recent grant rate, at most the queue timeout).
- **What remains.** Above capacity some demand must be refused. A retry at the advised time competes
  with new arrivals and the queue (how often it succeeded: the last column; eventual success: *RA
  lateness*). Honouring every Retry-After needs the proxy to book capacity for the client it told to
  come back (for example keyed by client token and request body); the engine alone cannot tell a retry
  from a new request.
`
