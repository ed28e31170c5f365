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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Results is everything one loadgen run measured; it is written as
// loadtest.json and rendered as loadtest.md.
type Results struct {
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Nginx   string    `json:"nginx"` // its version, or why it was not measured
	// BareTransport is the Go yardstick's upstream transport: net/http's, as the
	// proxy's (results from before issue 27 may say lean).
	BareTransport string       `json:"bare_transport,omitempty"`
	TLS           bool         `json:"tls"` // the fake provider was served over TLS (-tls)
	Steps         []Step       `json:"steps"`
	Comparisons   []Comparison `json:"comparisons"`
	Sustained     []Sustained  `json:"sustained"`
	TTFB          TTFB         `json:"ttfb"`
	Memory        Memory       `json:"memory"`
	Checks        []Check      `json:"checks"`
	ProfileTop    string       `json:"profile_top,omitempty"` // file with `go tool pprof -top`
}

// Comparison sets the nginx and proxy steps of one mode and rate against
// the direct one. Added is the proxy's latency minus direct's, NginxAdded
// nginx's; Ratio is Added / NginxAdded, 0 when nginx was not measured or
// added nothing measurable (the ratio is then undefined).
type Comparison struct {
	Mode          string  `json:"mode"`
	Rate          int     `json:"rate"`
	DirectP50     float64 `json:"direct_p50_us"`
	DirectP90     float64 `json:"direct_p90_us"`
	DirectP99     float64 `json:"direct_p99_us"`
	NginxP50      float64 `json:"nginx_p50_us,omitempty"`
	NginxP99      float64 `json:"nginx_p99_us,omitempty"`
	ProxyP50      float64 `json:"proxy_p50_us"`
	ProxyP90      float64 `json:"proxy_p90_us"`
	ProxyP99      float64 `json:"proxy_p99_us"`
	AddedP50      float64 `json:"added_p50_us"`
	AddedP90      float64 `json:"added_p90_us"`
	AddedP99      float64 `json:"added_p99_us"`
	NginxAddedP50 float64 `json:"nginx_added_p50_us,omitempty"`
	NginxAddedP99 float64 `json:"nginx_added_p99_us,omitempty"`
	RatioP50      float64 `json:"ratio_p50,omitempty"`
	RatioP99      float64 `json:"ratio_p99,omitempty"`
	DirectErrors  uint64  `json:"direct_errors"`
	NginxErrors   uint64  `json:"nginx_errors"`
	ProxyErrors   uint64  `json:"proxy_errors"`
	ProxyRequests uint64  `json:"proxy_requests"`
	HasNginx      bool    `json:"has_nginx"`
	// Bare* is the Go yardstick's step (proxyserver -bare), when measured.
	BareP50      float64 `json:"bare_p50_us,omitempty"`
	BareP99      float64 `json:"bare_p99_us,omitempty"`
	BareAddedP50 float64 `json:"bare_added_p50_us,omitempty"`
	BareAddedP99 float64 `json:"bare_added_p99_us,omitempty"`
	BareErrors   uint64  `json:"bare_errors,omitempty"`
	HasBare      bool    `json:"has_bare,omitempty"`
}

// Check is one target from the issue, met or not.
type Check struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// summarise derives the comparisons, sustained rates and target checks from
// the raw steps.
func (r *Results) summarise() {
	r.Comparisons = compare(r.Steps)
	for i := range r.Sustained {
		r.Sustained[i].MaxRate = r.Sustained[i].strictMax()
	}
	r.Checks = checks(r)
}

// rerender reads a loadtest.json, summarises it again and writes loadtest.json
// and loadtest.md to dir: for changes to the report, without a new run.
func rerender(path, dir string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var r Results
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	r.summarise()
	return r.write(dir)
}

// compare sets the nginx and proxy steps against the direct step with the
// same mode and rate.
func compare(steps []Step) []Comparison {
	find := func(target, mode string, rate int) *Step {
		for i := range steps {
			if steps[i].Target == target && steps[i].Mode == mode && steps[i].Rate == rate {
				return &steps[i]
			}
		}
		return nil
	}
	var out []Comparison
	for _, d := range steps {
		p := find(targetProxy, d.Mode, d.Rate)
		if d.Target != targetDirect || p == nil {
			continue
		}
		c := Comparison{
			Mode: d.Mode, Rate: d.Rate,
			DirectP50: d.P50, DirectP90: d.P90, DirectP99: d.P99,
			ProxyP50: p.P50, ProxyP90: p.P90, ProxyP99: p.P99,
			AddedP50: p.P50 - d.P50, AddedP90: p.P90 - d.P90, AddedP99: p.P99 - d.P99,
			DirectErrors: d.Errors, ProxyErrors: p.Errors, ProxyRequests: p.Requests,
		}
		if n := find(targetNginx, d.Mode, d.Rate); n != nil {
			c.HasNginx = true
			c.NginxP50, c.NginxP99, c.NginxErrors = n.P50, n.P99, n.Errors
			c.NginxAddedP50, c.NginxAddedP99 = n.P50-d.P50, n.P99-d.P99
			c.RatioP50, c.RatioP99 = ratio(c.AddedP50, c.NginxAddedP50), ratio(c.AddedP99, c.NginxAddedP99)
		}
		if g := find(targetBare, d.Mode, d.Rate); g != nil {
			c.HasBare = true
			c.BareP50, c.BareP99, c.BareErrors = g.P50, g.P99, g.Errors
			c.BareAddedP50, c.BareAddedP99 = g.P50-d.P50, g.P99-d.P99
		}
		out = append(out, c)
	}
	return out
}

// handshakesPer1000 is the step's TLS handshakes per 1,000 requests.
func (s Step) handshakesPer1000() float64 {
	if s.Requests == 0 {
		return 0
	}
	return 1000 * float64(s.Handshakes) / float64(s.Requests)
}

// ratio is a / b, or 0 (undefined) when b is not positive: nginx adding
// nothing measurable leaves nothing to compare with.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// Issue 18's targets, as ratios measured in the same run.
const (
	maxRatioP50       = 1.0  // added p50 at most nginx's
	maxRatioP99       = 1.5  // added p99 at most 1.5 x nginx's
	ttfbSlackUS       = 50.0 // added time to first event at most nginx's + 50 µs
	maxPerStreamKiB   = 24.0
	deploymentMiB     = 512.0 // config/manager's memory limit
	checkedStreamRate = 1000  // streams at this rate and above must all succeed
)

// checks evaluates the targets against r. A target that was not measured
// (no nginx, a rate not in -rates) is reported as not met, saying why.
func checks(r *Results) []Check {
	out := latencyChecks(r)
	out = append(out, ttfbCheck(r))
	if c, ok := sustainedCheck(r); ok {
		out = append(out, c)
	}
	out = append(out, memoryChecks(r)...)
	if r.TLS {
		out = append(out, handshakeCheck(r))
	}
	return out
}

// latencyChecks judges the added latency against nginx's at every rate and
// mode, and the streams' success at the rates that must have no error.
func latencyChecks(r *Results) []Check {
	var out []Check
	for _, c := range r.Comparisons {
		name := fmt.Sprintf("added latency vs nginx at %d req/s (%s)", c.Rate, c.Mode)
		goal := fmt.Sprintf("p50 <= %.1fx, p99 <= %.1fx nginx's added", maxRatioP50, maxRatioP99)
		if !c.HasNginx || c.RatioP50 == 0 || c.RatioP99 == 0 {
			out = append(out, Check{Name: name, Goal: goal, Measured: fmt.Sprintf(
				"undefined: nginx added p50 %+.0f µs, p99 %+.0f µs (%s)", c.NginxAddedP50, c.NginxAddedP99, r.Nginx)})
			continue
		}
		out = append(out, Check{Name: name, Goal: goal,
			Measured: fmt.Sprintf("p50 %+.0f vs %+.0f µs (%.2fx), p99 %+.0f vs %+.0f µs (%.2fx)",
				c.AddedP50, c.NginxAddedP50, c.RatioP50, c.AddedP99, c.NginxAddedP99, c.RatioP99),
			Met: c.RatioP50 <= maxRatioP50 && c.RatioP99 <= maxRatioP99,
		})
	}
	for _, c := range r.Comparisons {
		if c.Mode == modeSSE && c.Rate >= checkedStreamRate {
			out = append(out, Check{
				Name:     fmt.Sprintf("streams at %d/s through the proxy", c.Rate),
				Goal:     "100% success",
				Measured: fmt.Sprintf("%d errors in %d requests", c.ProxyErrors, c.ProxyRequests),
				Met:      c.ProxyErrors == 0 && c.ProxyRequests > 0,
			})
		}
	}
	return out
}

// ttfbCheck judges the added time to the first streamed event.
func ttfbCheck(r *Results) Check {
	t := r.TTFB
	c := Check{Name: "added time to first SSE event", Goal: fmt.Sprintf("<= nginx's added + %.0f µs at p50 and p99", ttfbSlackUS)}
	if t.NginxP50 == 0 {
		c.Measured = fmt.Sprintf("p50 %+.0f µs, p99 %+.0f µs; nginx not measured (%s)", t.AddedP50, t.AddedP99, r.Nginx)
		return c
	}
	c.Measured = fmt.Sprintf("p50 %+.0f vs %+.0f µs, p99 %+.0f vs %+.0f µs",
		t.AddedP50, t.NginxAddedP50, t.AddedP99, t.NginxAddedP99)
	c.Met = t.AddedP50 <= t.NginxAddedP50+ttfbSlackUS && t.AddedP99 <= t.NginxAddedP99+ttfbSlackUS
	return c
}

// sustainedCheck judges the proxy's sustained rate against direct's, when
// both were searched.
func sustainedCheck(r *Results) (Check, bool) {
	var direct, proxy *Sustained
	for i := range r.Sustained {
		switch r.Sustained[i].Target {
		case targetDirect:
			direct = &r.Sustained[i]
		case targetProxy:
			proxy = &r.Sustained[i]
		}
	}
	if direct == nil || proxy == nil {
		return Check{}, false
	}
	pct := func(p, d int) float64 {
		if d == 0 {
			return 0
		}
		return 100 * float64(p) / float64(d)
	}
	return Check{
		Name: "sustained rate through the proxy",
		Goal: ">= 70% of direct",
		Measured: fmt.Sprintf("p99 < %s: %d of %d req/s (%.0f%%); kept up: %d of %d req/s (%.0f%%)",
			direct.P99Bound, proxy.MaxRate, direct.MaxRate, pct(proxy.MaxRate, direct.MaxRate),
			proxy.KeptUp, direct.KeptUp, pct(proxy.KeptUp, direct.KeptUp)),
		Met: direct.MaxRate > 0 && float64(proxy.MaxRate) >= 0.7*float64(direct.MaxRate),
	}, true
}

// memoryChecks judges the held streams and the idle footprint.
func memoryChecks(r *Results) []Check {
	var out []Check
	for _, h := range r.Memory.Held {
		if h.target() == targetBare {
			continue // the yardstick's, reported beside the proxy's
		}
		out = append(out, Check{
			Name:     fmt.Sprintf("%d held streams", h.Streams),
			Goal:     fmt.Sprintf("<= %.0f KiB RSS each, under the Deployment's %.0f MiB", maxPerStreamKiB, deploymentMiB),
			Measured: fmt.Sprintf("%.1f KiB each, %.1f MiB in all", h.PerStreamKiB, h.WithStreams),
			Met:      h.PerStreamKiB > 0 && h.PerStreamKiB <= maxPerStreamKiB && h.WithStreams < deploymentMiB,
		})
	}
	return append(out, Check{
		Name:     "RSS at rest, 100 pools x 10 keys",
		Goal:     "< 64 MiB",
		Measured: fmt.Sprintf("%.1f MiB", r.Memory.RestHundredPools),
		Met:      r.Memory.RestHundredPools > 0 && r.Memory.RestHundredPools < 64,
	})
}

// handshakeCheck judges connection reuse to a TLS upstream (-tls).
func handshakeCheck(r *Results) Check {
	var requests, handshakes uint64
	for _, st := range r.Steps {
		if st.Target == targetProxy {
			requests, handshakes = requests+st.Requests, handshakes+st.Handshakes
		}
	}
	per := Step{Requests: requests, Handshakes: handshakes}.handshakesPer1000()
	return Check{
		Name:     "TLS handshakes to the upstream through the proxy, steady state",
		Goal:     "<= 1 per 1,000 requests",
		Measured: fmt.Sprintf("%d in %d requests (%.2f per 1,000)", handshakes, requests, per),
		Met:      requests > 0 && per <= 1,
	}
}

// write saves loadtest.json and loadtest.md in dir.
func (r *Results) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, r.name()+".json"), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s.json: %w", r.name(), err)
	}
	if err := os.WriteFile(filepath.Join(dir, r.name()+".md"), []byte(r.markdown()), 0o644); err != nil {
		return fmt.Errorf("write %s.md: %w", r.name(), err)
	}
	return nil
}

// name is the results' file name without extension.
func (r *Results) name() string {
	if r.TLS {
		return "loadtest-tls"
	}
	return "loadtest"
}

// markdown renders the results as tables.
func (r *Results) markdown() string {
	var b strings.Builder
	ms := func(us float64) string { return fmt.Sprintf("%.2f", us/1000) }
	fmt.Fprintf(&b, "# Load test results (make loadtest)\n\n")
	fmt.Fprintf(&b, "`go run ./cmd/loadgen %s` at %s on %d x %s (%s); load average %s before, %s after.\n\n",
		r.Command, r.Started.UTC().Format(time.RFC3339), r.Machine.NProc, r.Machine.CPU, r.Machine.GoVersion,
		r.Machine.LoadBefore, r.Machine.LoadAfter)

	fmt.Fprintf(&b, "Yardstick: %s.\n\n", r.Nginx)
	if r.TLS {
		b.WriteString("Upstream: the fake provider over TLS (HTTP/2 offered; nginx speaks HTTP/1.1 to it). " +
			"Handshakes are the fake's TLS handshakes during each step, per 1,000 requests of that step.\n\n")
		b.WriteString("| target | mode | rate/s | requests | TLS handshakes | per 1,000 requests |\n|---|---|---:|---:|---:|---:|\n")
		for _, s := range r.Steps {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %.2f |\n",
				s.Target, s.Mode, s.Rate, s.Requests, s.Handshakes, s.handshakesPer1000())
		}
		b.WriteString("\n")
	}
	b.WriteString("## Latency at fixed rates (ms; Anthropic /v1/messages; sse = whole stream)\n\n")
	b.WriteString("Added = the path's p50/p99 minus direct's in the same run; ratio = the proxy's added / nginx's added " +
		"(blank when nginx added nothing measurable).\n\n")
	b.WriteString("| mode | rate/s | direct p50 | p99 | nginx p50 | p99 | proxy p50 | p99 | nginx added p50 | p99 | " +
		"proxy added p50 | p99 | ratio p50 | ratio p99 | errors d/n/p | proxy RSS peak MiB | load |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	x := func(v float64) string {
		if v == 0 {
			return ""
		}
		return fmt.Sprintf("%.2fx", v)
	}
	for _, c := range r.Comparisons {
		var rss float64
		var load string
		for _, s := range r.Steps {
			if s.Target == targetProxy && s.Mode == c.Mode && s.Rate == c.Rate {
				rss, load = s.ProxyRSSPeak, s.Load
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d/%d | %.1f | %s |\n",
			c.Mode, c.Rate, ms(c.DirectP50), ms(c.DirectP99), ms(c.NginxP50), ms(c.NginxP99),
			ms(c.ProxyP50), ms(c.ProxyP99), ms(c.NginxAddedP50), ms(c.NginxAddedP99), ms(c.AddedP50), ms(c.AddedP99),
			x(c.RatioP50), x(c.RatioP99), c.DirectErrors, c.NginxErrors, c.ProxyErrors, rss, load)
	}

	b.WriteString("\n## Highest sustained rate\n\n")
	b.WriteString("Sustained: no errors, p99 under the bound, throughput >= 95% of the rate. " +
		"Kept up: no errors, throughput >= 95%, any latency.\n\n")
	b.WriteString("| target | mode | sustained req/s | kept up req/s | steps (rate: p99 ms, sustained) |\n|---|---|---:|---:|---|\n")
	for _, s := range r.Sustained {
		tried := make([]string, 0, len(s.Steps))
		for _, st := range s.Steps {
			tried = append(tried, fmt.Sprintf("%d: %s %t", st.Rate, ms(st.P99), st.sustains(mustDuration(s.P99Bound))))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s |\n", s.Target, s.Mode, s.MaxRate, s.KeptUp, strings.Join(tried, "; "))
	}

	b.WriteString(r.floorMarkdown())

	t := r.TTFB
	fmt.Fprintf(&b, "\n## Time to first SSE event (%d sequential samples each, load %s)\n\n", t.Samples, t.Load)
	b.WriteString("| | p50 ms | p99 ms |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| direct | %s | %s |\n| nginx | %s | %s |\n| proxy | %s | %s |\n"+
		"| nginx added | %s | %s |\n| proxy added | %s | %s |\n",
		ms(t.DirectP50), ms(t.DirectP99), ms(t.NginxP50), ms(t.NginxP99), ms(t.ProxyP50), ms(t.ProxyP99),
		ms(t.NginxAddedP50), ms(t.NginxAddedP99), ms(t.AddedP50), ms(t.AddedP99))
	if t.BareP50 != 0 {
		fmt.Fprintf(&b, "| bare | %s | %s |\n| bare added | %s | %s |\n",
			ms(t.BareP50), ms(t.BareP99), ms(t.BareAddedP50), ms(t.BareAddedP99))
	}

	m := r.Memory
	b.WriteString("\n## Proxy memory (VmRSS of the proxy process)\n\n| measure | value |\n|---|---:|\n")
	fmt.Fprintf(&b, "| at rest, 1 pool | %.1f MiB |\n", m.RestOnePool)
	fmt.Fprintf(&b, "| peak under load | %.1f MiB |\n", m.PeakUnderLoad)
	fmt.Fprintf(&b, "| at rest, 100 pools x 10 keys | %.1f MiB |\n", m.RestHundredPools)
	for _, h := range m.Held {
		who := h.holder()
		fmt.Fprintf(&b, "| %d held streams%s: before / with (load %s) | %.1f / %.1f MiB |\n",
			h.Streams, who, h.Load, h.BeforeStreams, h.WithStreams)
		fmt.Fprintf(&b, "| per held stream of %d%s (RSS / Go heap) | %.1f / %.1f KiB |\n",
			h.Streams, who, h.PerStreamKiB, h.PerStreamHeapKiB)
		if h.PerStreamOwnHeapKiB != 0 || h.PerStreamGoHeapKiB != 0 {
			fmt.Fprintf(&b, "| per held stream of %d%s: heap allocated under this module's code / "+
				"by net/http and the runtime alone | %.1f / %.1f KiB |\n", h.Streams, who, h.PerStreamOwnHeapKiB, h.PerStreamGoHeapKiB)
		}
		fmt.Fprintf(&b, "| per held stream of %d%s: goroutine stacks; goroutines (heap by site: %s) | %.1f KiB; %.2f |\n",
			h.Streams, who, h.HeapTop, h.PerStreamStackKiB, h.GoroutinesPerStream)
	}

	b.WriteString("\n## Targets\n\n| target | goal | measured | met |\n|---|---|---|---|\n")
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.Goal, c.Measured, map[bool]string{true: "yes", false: "**no**"}[c.Met])
	}
	if r.ProfileTop != "" {
		fmt.Fprintf(&b, "\nCPU profile of the proxy at 1,000 req/s (json): `proxy-cpu.pprof`, top entries in `%s`.\n",
			filepath.Base(r.ProfileTop))
	}
	return b.String()
}

func mustDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}
