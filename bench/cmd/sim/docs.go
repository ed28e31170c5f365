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
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// docsSection is the part of the results meant for bench/performance.md:
// per configuration and demand, the mean over seeds (and the range) of
// served/bound, upstream 429s and Retry-After success, beside an earlier
// engine's when one is given, then what this run measured in sentences
// built from its numbers, and what in the engine makes the difference.
func (r *report) docsSection() string {
	var b strings.Builder
	demands := r.demands()
	b.WriteString("## Section for bench/performance.md: pooling efficiency\n\n")
	fmt.Fprintf(&b, "`make sim` drives the real proxy and pool against the fake provider (six keys: two organisations "+
		"of two keys sharing one limit, two independent keys; different RPM/ITPM/OTPM per organisation; buckets "+
		"start empty) with a mixed workload at %s of the nominal mix bound (%.1f requests/min), and compares it "+
		"with today's practice of one key per client. *Served/bound* divides what the fake admitted in the measured "+
		"window by the most the keys' limits allow for the offered mix in that window (a linear programme over the "+
		"window's budgets; bench/README.md says how), for requests, input and output tokens. Figures are means over %s "+
		"(range in brackets).\n\n", joinPercents(demands), r.NominalRPM, seedsText(r.seeds()))
	old := r.Compare != nil
	b.WriteString("| configuration | demand | bound req/min | served/bound req | in | out | class served/bound (" + classNames() +
		") | upstream 429s | 1st retry at Retry-After ok | advised Retry-After p50 / p95 | throttled, retry after the run |")
	if old {
		b.WriteString(" earlier engine: served/bound req | upstream 429s | 1st retry ok |")
	}
	b.WriteString("\n|---|---:|---:|---|---:|---:|---|---|---|---|---:|")
	if old {
		b.WriteString("---|---|---|")
	}
	b.WriteString("\n")
	for _, d := range demands {
		for _, mode := range []string{modePinned, modeLearned, modeGrouped, modeHalved} {
			s := r.summarize(d, mode)
			if s.n == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %.0f%% | %.1f | **%s** | %s | %s | %s | %s | %s | %s | %d |", modeLabel(mode), d*100,
				s.bound.mean(), s.req.text(), pct(s.in.mean()), pct(s.out.mean()), s.classText(), s.up429.text(), s.retry(),
				s.advised(), s.notRetried)
			if old {
				if o := r.Compare.summarize(d, mode); o.n > 0 {
					fmt.Fprintf(&b, " %s | %s | %s |", o.req.text(), o.up429.text(), o.retry())
				} else {
					b.WriteString(" - | - | - |")
				}
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
	b.WriteString(r.findings())
	b.WriteString("\n")
	b.WriteString(engineNotes)
	return b.String()
}

// seeds returns the seeds of the run, in increasing order.
func (r *report) seeds() []uint64 { return distinctLoad(r, func(x *result) uint64 { return x.Seed }) }

func seedsText(seeds []uint64) string {
	if len(seeds) == 1 {
		return fmt.Sprintf("seed %d", seeds[0])
	}
	return fmt.Sprintf("%d seeds", len(seeds))
}

// demands returns the demand levels of the run, in increasing order.
func (r *report) demands() []float64 {
	return distinctLoad(r, func(x *result) float64 { return x.Demand })
}

// distinctLoad returns the distinct values of field over the load runs (not
// the fairness runs, which have clients), in increasing order.
func distinctLoad[T cmp.Ordered](r *report, field func(*result) T) []T {
	var out []T
	for _, x := range r.Results {
		if v := field(x); x.Clients == nil && !slices.Contains(out, v) {
			out = append(out, v)
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
// results.
func (r *report) findings() string {
	var b strings.Builder
	b.WriteString("In this run:\n\n")
	ds := r.demands()
	if len(ds) == 0 {
		return ""
	}
	top := ds[len(ds)-1]
	for _, mode := range []string{modeGrouped, modeLearned, modePinned, modeHalved} {
		s := r.summarize(top, mode)
		if s.n == 0 {
			continue
		}
		fmt.Fprintf(&b, "- At %.0f%% demand, %s served %s of the bound in requests (%s in input tokens, %s in output "+
			"tokens; the least-served class reached %s of its part), with %s of upstream requests answered 429; the "+
			"first retry at the advised time succeeded for %s, and %d throttled requests were told to retry after the "+
			"run ended (%s if those count as failures); %s of the first Retry-After answers were booked (advised "+
			"Retry-After p50 / p95: %s).\n", top*100, modeLabel(mode), s.req.text(), pct(s.in.mean()),
			pct(s.out.mean()), pct(s.worstClass()), s.up429.text(), s.retry(), s.notRetried, s.retryAll(), s.bookedShare(),
			s.advised())
		if r.Compare != nil {
			if o := r.Compare.summarize(top, mode); o.n > 0 {
				fmt.Fprintf(&b, "  The earlier engine, measured the same way: %s of the bound, %s upstream 429s, first retry "+
					"ok for %s.\n", o.req.text(), o.up429.text(), o.retry())
			}
		}
	}
	for _, d := range ds {
		var served, n, errs int
		for _, x := range r.Results {
			if x.Demand == d && x.Mode != modePinned && x.Mode != modeHalved && x.Clients == nil {
				served += x.ClientOK
				n += x.ClientRequests
				errs += x.ClientErrors
			}
		}
		if n > 0 {
			fmt.Fprintf(&b, "- At %.0f%% demand the pool runs (halved limits left out) together served %d of %d client "+
				"requests that arrived in the "+
				"window (%s), retries included; %d failed with something other than a 429.\n", d*100, served, n,
				pct(float64(served)/float64(n)), errs)
		}
	}
	if r.NominalRPM > 0 {
		fmt.Fprintf(&b, "- Each organisation serving the whole mix on its own (no routing of classes to where they fit) "+
			"would reach %.1f requests/min, %s of the nominal bound of %.1f: the bound needs long prompts sent to the "+
			"organisations with input to spare and short ones to those with requests to spare.\n",
			r.CapacityRPM, pct(r.CapacityRPM/r.NominalRPM), r.NominalRPM)
	}
	if use := r.orgUse(top, modeGrouped); use != "" {
		fmt.Fprintf(&b, "- At %.0f%% demand, %s used of each organisation's limits over the window (requests / input "+
			"tokens / output tokens, mean of the runs): %s.\n", top*100, modeLabel(modeGrouped), use)
	}
	if s := r.summarize(top, modeGrouped); s.n > 0 {
		fmt.Fprintf(&b, "- The old figure (largest share of any limit per organisation, weighted) read %s for the same "+
			"runs at %.0f%% demand.\n", s.oldFig.text(), top*100)
	}
	return b.String()
}

// orgUse is every organisation's mean use of its limits in the runs of
// mode at demand, per dimension; "" without such runs.
func (r *report) orgUse(demand float64, mode string) string {
	var parts []string
	for _, o := range orgs {
		var req, in, out stat
		for _, x := range r.Results {
			if u, ok := x.Orgs[o]; ok && x.Mode == mode && x.Demand == demand && x.Clients == nil {
				req.add(u.Requests)
				in.add(u.InputTokens)
				out.add(u.OutputTok)
			}
		}
		if req.n == 0 {
			return ""
		}
		parts = append(parts, fmt.Sprintf("%s %s / %s / %s", o, pct(req.mean()), pct(in.mean()), pct(out.mean())))
	}
	return strings.Join(parts, ", ")
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
	case modeHalved:
		return "pool, limits configured at half their true value (wastes capacity)"
	default:
		return "pool, `limitGroup` configured (limits learned)"
	}
}

// stat is a mean and range over runs.
type stat struct {
	n           int
	sum, lo, hi float64
}

func (s *stat) add(v float64) {
	if s.n == 0 || v < s.lo {
		s.lo = v
	}
	if s.n == 0 || v > s.hi {
		s.hi = v
	}
	s.n++
	s.sum += v
}

func (s *stat) mean() float64 {
	if s.n == 0 {
		return 0
	}
	return s.sum / float64(s.n)
}

// text is the mean as a percentage, with the range when there is one.
func (s *stat) text() string {
	if s.n < 2 || pct(s.lo) == pct(s.hi) {
		return pct(s.mean())
	}
	return fmt.Sprintf("%s (%s - %s)", pct(s.mean()), pct(s.lo), pct(s.hi))
}

// summary aggregates one configuration and demand over seeds and
// strategies.
type summary struct {
	n                                  int
	bound, req, in, out, up429, oldFig stat
	class                              []stat
	adv50, adv95                       stat
	notRetried                         int
	retries                            int
	retryOK                            float64
	throttled, booked                  int // requests given a Retry-After; of which booked
}

func (s *summary) add(x *result) {
	s.n++
	s.up429.add(x.Upstream429Share)
	s.oldFig.add(x.Capacity)
	s.retries += x.FirstRetries
	s.retryOK += x.FirstRetryOK * float64(x.FirstRetries)
	s.notRetried += x.NotRetried
	s.throttled += x.FirstRetries + x.NotRetried
	s.booked += x.AdvisedBooked
	if x.AdvisedMax > 0 {
		s.adv50.add(x.AdvisedP50.Seconds())
		s.adv95.add(x.AdvisedP95.Seconds())
	}
	m := x.Metric
	if m == nil {
		return
	}
	s.bound.add(m.Bound.RequestsPerMin)
	s.req.add(m.RequestsOverBound)
	s.in.add(m.InputOverBound)
	s.out.add(m.OutputOverBound)
	if s.class == nil {
		s.class = make([]stat, len(m.ClassOverBound))
	}
	for i, v := range m.ClassOverBound {
		if i < len(s.class) {
			s.class[i].add(v)
		}
	}
}

func (s *summary) classText() string {
	parts := make([]string, len(s.class))
	for i := range s.class {
		parts[i] = pct(s.class[i].mean())
	}
	return strings.Join(parts, " / ")
}

// worstClass is the lowest mean class share.
func (s *summary) worstClass() float64 {
	w := 0.0
	for i := range s.class {
		if i == 0 || s.class[i].mean() < w {
			w = s.class[i].mean()
		}
	}
	return w
}

// advised is the mean over runs of the advised Retry-After's p50 and p95.
func (s *summary) advised() string {
	if s.adv50.n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs / %.1fs", s.adv50.mean(), s.adv95.mean())
}

func (s *summary) retry() string {
	if s.retries == 0 {
		return "- (no retries)"
	}
	return fmt.Sprintf("%s of %d", pct(s.retryOK/float64(s.retries)), s.retries)
}

// retryAll is the first-retry success over every throttled request, those
// told to retry after the run ended counted as failures.
func (s *summary) retryAll() string {
	if s.throttled == 0 {
		return "- (none throttled)"
	}
	return fmt.Sprintf("%s of %d", pct(s.retryOK/float64(s.throttled)), s.throttled)
}

// bookedShare is the share of throttled requests whose first Retry-After
// the proxy said it booked.
func (s *summary) bookedShare() string {
	if s.throttled == 0 {
		return "-"
	}
	return pct(float64(s.booked) / float64(s.throttled))
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
- **Proactive output-token reservation, per request.** Providers refuse a request while the output
  bucket is empty but charge output only as it is generated. The limiter holds each request's expected
  output from acquire to settle, and when it syncs with a provider's remaining count it subtracts the
  expected output of requests still in flight, which the provider has not charged yet. The expectation
  is the request's own: what the pool learned prompts of its size produce (a moving average per input
  size), not the average of whatever its group served. With the group's average, an organisation short of
  output tokens that mostly served short answers admitted long ones against room for a short one, went
  into output debt, and lost the requests that would have fitted; holding the request's own expectation
  leaves such an organisation to requests that need little output.
- **Class-aware key choice.** Least-loaded scores every limit group of a tier by what the request costs
  there: the largest share of the group's per-minute limits it takes (one request, its input estimate, and
  the output the pool learned for prompts of its size), and takes the cheapest group with room, so long
  prompts go where input is to spare and short ones where requests are. A queued request first tries only
  the groups where it costs at most 1.25 times its cheapest; when none has room, the next 16 requests of
  its client may take a group that fits them and not it, and only then does it take any group with room,
  so no capacity idles while requests wait.
- **Capacity the provider reports.** A response whose rate-limit headers report more remaining than
  the pool's picture raises it (a reset passed, a limit was raised, usage was over-estimated; never past a
  lower configured limit), less
  everything the limiter has in flight and everything settled since the answered request was taken, which
  the provider may not have counted when it answered; so a raise never admits more than the provider holds
  (` + "`ratelimit.Syncer`" + `, local limiters only: a shared Redis limiter cannot see other replicas' requests in flight).
- **Retry-After that is booked.** A request turned away for want of capacity (it waited its whole queue
  timeout, or its client's queue was full) is told to come back when some key has capacity for it, not
  before its client's queue is likely served, and not before its client's retries already promised are
  served at 90% of the client's fair part of the pool's recent grant rate (less what clients served without
  waiting took; the rest absorbs a dip in capacity or a stall, and serves new requests meanwhile); that time, in
  whole seconds, is booked for the client's retry (same client and input estimate; a request whose SDK says
  it is a first attempt never claims it) and the 429 says so (` + "`X-Keypool-Retry-Booked: true`" + `). The
  retry that claims its booking, from 1 s before its time to 30 s after, goes to the front of its client's
  queue (even a full one), ahead of the client's newer requests; other clients keep their fair share, and nothing is held
  back. An unclaimed booking lapses. Under sustained overload the booked time grows with the client's
  backlog; the pool books at most 15 minutes and 4,096 retries ahead per client, and beyond that, or
  without a queue, it advises its estimate and says nothing is booked (` + "`X-Keypool-Retry-Booked: false`" + `).
- **What remains.** Above capacity some demand must wait or be refused: bookings make a retry at the
  advised time succeed, and under sustained overload the advised time grows with the backlog (the
  *advised Retry-After* column) while new requests find the capacity promised to earlier ones. The bound
  assumes each class can be routed to the organisation where it fits best, with perfect foresight of the
  mix; the pool's choice is made per request (see *Class-aware key choice*), and the dimensions it leaves
  unused per organisation (listed above) are what separates *served/bound* from 100%.
`
