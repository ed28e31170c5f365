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
	"strings"
)

// target is who held the streams; results from before the yardstick have
// no Target, and were the proxy's.
func (h HeldStreams) target() string {
	if h.Target == "" {
		return targetProxy
	}
	return h.Target
}

// holder names who held a HeldStreams entry in the memory table: nothing
// for the proxy, " (bare)" for the Go yardstick.
func (h HeldStreams) holder() string {
	if h.target() == targetBare {
		return " (bare)"
	}
	return ""
}

// span formats the smallest and largest of vs as "a-b x" ("a x" when they
// agree), skipping undefined (zero) ratios; "-" when none is defined.
func span(vs []float64) string {
	lo, hi, n := 0.0, 0.0, 0
	for _, v := range vs {
		if v == 0 {
			continue
		}
		if n == 0 || v < lo {
			lo = v
		}
		if n == 0 || v > hi {
			hi = v
		}
		n++
	}
	switch {
	case n == 0:
		return "-"
	case fmt.Sprintf("%.2f", lo) == fmt.Sprintf("%.2f", hi):
		return fmt.Sprintf("%.2fx", lo)
	}
	return fmt.Sprintf("%.2f-%.2fx", lo, hi)
}

// floorMarkdown sets the Go yardstick (proxyserver -bare) between nginx and
// the proxy: how much of the proxy's added latency and per-stream memory a
// Go reverse proxy on net/http pays before doing any of the proxy's work.
// Empty when the yardstick was not measured.
func (r *Results) floorMarkdown() string {
	var rows []Comparison
	for _, c := range r.Comparisons {
		if c.HasBare {
			rows = append(rows, c)
		}
	}
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	ms := func(us float64) string { return fmt.Sprintf("%.2f", us/1000) }
	x := func(v float64) string {
		if v == 0 {
			return ""
		}
		return fmt.Sprintf("%.2fx", v)
	}
	fmt.Fprintf(&b, "\n## The Go floor: a bare Go reverse proxy measured beside nginx and the proxy\n\n"+
		"bare = `proxyserver -bare`: net/http's server and httputil.ReverseProxy over the %s upstream transport, "+
		"with no pool, client authentication or usage accounting, measured in the same run, interleaved with the other paths. "+
		"Added latencies in ms; ratios of added latencies (blank when the denominator is not positive).\n\n", r.BareTransport)
	b.WriteString("| mode | rate/s | nginx added p50 | p99 | bare added p50 | p99 | proxy added p50 | p99 | " +
		"bare / nginx p50 | p99 | proxy / bare p50 | p99 | errors bare |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var bareVsNginx, proxyVsBare []float64
	for _, c := range rows {
		bn50, bn99 := ratio(c.BareAddedP50, c.NginxAddedP50), ratio(c.BareAddedP99, c.NginxAddedP99)
		pb50, pb99 := ratio(c.AddedP50, c.BareAddedP50), ratio(c.AddedP99, c.BareAddedP99)
		bareVsNginx, proxyVsBare = append(bareVsNginx, bn50), append(proxyVsBare, pb50)
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n",
			c.Mode, c.Rate, ms(c.NginxAddedP50), ms(c.NginxAddedP99), ms(c.BareAddedP50), ms(c.BareAddedP99),
			ms(c.AddedP50), ms(c.AddedP99), x(bn50), x(bn99), x(pb50), x(pb99), c.BareErrors)
	}
	t := r.TTFB
	if t.BareP50 != 0 {
		fmt.Fprintf(&b, "| time to first event | - | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | |\n",
			ms(t.NginxAddedP50), ms(t.NginxAddedP99), ms(t.BareAddedP50), ms(t.BareAddedP99), ms(t.AddedP50), ms(t.AddedP99),
			x(ratio(t.BareAddedP50, t.NginxAddedP50)), x(ratio(t.BareAddedP99, t.NginxAddedP99)),
			x(ratio(t.AddedP50, t.BareAddedP50)), x(ratio(t.AddedP99, t.BareAddedP99)))
	}
	fmt.Fprintf(&b, "\nIn this run, at the fixed rates the bare Go proxy's added p50 was %s nginx's, "+
		"and the proxy's added p50 was %s the bare Go proxy's.\n", span(bareVsNginx), span(proxyVsBare))
	b.WriteString(r.heldFloorMarkdown())
	return b.String()
}

// heldFloorMarkdown compares the proxy's and the yardstick's held streams,
// count by count.
func (r *Results) heldFloorMarkdown() string {
	var b strings.Builder
	var sentences []string
	for _, p := range r.Memory.Held {
		if p.target() == targetBare {
			continue
		}
		for _, g := range r.Memory.Held {
			if g.target() != targetBare || g.Streams != p.Streams {
				continue
			}
			if b.Len() == 0 {
				b.WriteString("\nPer held stream (KiB; heap split by whether a frame of this module's code " +
					"was on the allocating stack):\n\n" +
					"| streams | holder | RSS | Go heap | of it under this module's code | " +
					"by net/http and the runtime alone | goroutine stacks | goroutines |\n" +
					"|---:|---|---:|---:|---:|---:|---:|---:|\n")
			}
			for _, h := range []HeldStreams{p, g} {
				fmt.Fprintf(&b, "| %d | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |\n", h.Streams, h.target(), h.PerStreamKiB,
					h.PerStreamHeapKiB, h.PerStreamOwnHeapKiB, h.PerStreamGoHeapKiB, h.PerStreamStackKiB, h.GoroutinesPerStream)
			}
			sentences = append(sentences, fmt.Sprintf("of %d held streams through the proxy, each took %.1f KiB RSS "+
				"(the bare Go proxy's: %.1f KiB, %.2fx); %.1f KiB of its heap was allocated by net/http's server and the runtime "+
				"with no frame of this module's code on the stack, and its goroutine stacks took %.1f KiB (%.2f goroutines)",
				p.Streams, p.PerStreamKiB, g.PerStreamKiB, ratio(p.PerStreamKiB, g.PerStreamKiB),
				p.PerStreamGoHeapKiB, p.PerStreamStackKiB, p.GoroutinesPerStream))
		}
	}
	if len(sentences) > 0 {
		fmt.Fprintf(&b, "\nIn this run, %s.\n", strings.Join(sentences, "; "))
	}
	return b.String()
}
