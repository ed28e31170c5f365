package main

import (
	"fmt"
	"strings"
)

// docsSection is the part of the results meant for docs/performance.md: a
// summary per configuration and demand (ranges over the four strategies),
// and what in the engine makes the difference.
func (r *report) docsSection() string {
	var b strings.Builder
	b.WriteString("## Section for docs/performance.md: pooling efficiency\n\n")
	b.WriteString("`make sim` drives the real proxy and pool against the fake provider (six keys: two organisations " +
		"of two keys sharing one limit, two independent keys; different RPM/ITPM/OTPM per organisation; buckets " +
		"start empty) with a mixed workload at 50%, 100% and 150% of the keys' aggregate capacity, and compares it " +
		"with today's practice of one key per client. Capacity is counted as the share of each organisation's " +
		"binding limit consumed, so long prompts cannot be starved to flatter the numbers. Ranges are over the four " +
		"strategies (least-loaded, round-robin, random, weighted). At 100% demand the pools served every request; " +
		"what they delivered below 100% is demand the random arrivals did not bring, or brought to an " +
		"organisation other than the one with room in its binding dimension.\n\n")
	b.WriteString("| configuration | demand | capacity delivered | upstream 429s | client 429s | other client errors | " +
		"1st retry at Retry-After ok |\n")
	b.WriteString("|---|---:|---|---|---|---:|---|\n")
	for _, d := range []float64{0.5, 1.0, 1.5} {
		for _, mode := range []string{modePinned, modeLearned, modeGrouped} {
			var s summary
			for _, x := range r.Results {
				if x.Mode == mode && x.Demand == d {
					s.add(x)
				}
			}
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
	b.WriteString(engineNotes)
	return b.String()
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
  (up to ` + "`queueTimeout`" + `) and is woken when capacity returns, so demand at or below capacity
  sees no client errors at all; pinned clients instead hit 429s on their own key while other keys idle.
- **Limits learned in place from headers.** Every response's rate-limit headers cap the local
  buckets; nothing is configured in the *learned* rows.
- **Organisations learned from the provider.** Anthropic names a key's organisation in
  ` + "`anthropic-organization-id`" + ` (OpenAI: ` + "`openai-organization`" + `). Keys without a configured
  ` + "`limitGroup`" + ` that report the same organisation are put into one limit group (shown as
  ` + "`org:<id>`" + ` in the key's status), so the pool stops counting one organisation's limit once per
  key. Before this, the unconfigured pool overcounted the two shared organisations and a third of its
  upstream requests at 150% demand were answered 429.
- **Proactive output-token reservation.** Providers refuse a request while the output bucket is
  empty but charge output only as it is generated. The limiter now holds each request's expected
  output (a moving average of what settled requests produced) from acquire to settle, and when it syncs
  with a provider's remaining count it subtracts the expected output of requests still in flight, which
  the provider has not charged yet. Before this, the output-bound organisation drew upstream 429s under
  overload (6-11% of upstream requests at 150% with limit groups configured, bench/results/sim-before.md).
- **Retry-After behind the queue.** A request turned away after waiting is told to come back when
  some key has capacity for it *and* not before the requests still queued are likely to have been
  served (their number over the pool's recent grant rate, at most the queue timeout). Before, it was
  told the earliest refill, usually a second, and its retry joined the back of the same queue.
- **What remains.** Above capacity some demand must be refused. Every client-visible 429 carries a
  Retry-After, but with demand still arriving at 150% a retry at that time competes with new arrivals
  and the queue, so only about a third of first retries succeed (eventual success: see *RA lateness*).
  Honouring every Retry-After needs the proxy to book capacity for the client it told to come back
  (for example keyed by client token and request body); the engine alone cannot tell a retry from a
  new request.
`
