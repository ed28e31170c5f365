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
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

func TestSplitByOwner(t *testing.T) {
	fn := func(name string) *profile.Location {
		return &profile.Location{Line: []profile.Line{{Function: &profile.Function{Name: name}}}}
	}
	reader, serve := fn("bufio.NewReaderSize"), fn("net/http.(*conn).serve")
	exchange := fn(ownModule + "internal/proxy.(*exchange).run")
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "inuse_objects"}, {Type: "inuse_space"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{reader, serve}, Value: []int64{1, 4096}},
			{Location: []*profile.Location{reader, exchange, serve}, Value: []int64{1, 1000}},
			{Location: []*profile.Location{exchange}, Value: []int64{2, 24}},
		},
	}
	own, goOnly, err := splitByOwner(p)
	if err != nil || own != 1024 || goOnly != 4096 {
		t.Fatalf("splitByOwner = %d, %d, %v; want 1024 own (any frame of the module), 4096 net/http's alone", own, goOnly, err)
	}
	p.SampleType = p.SampleType[:1]
	if _, _, err := splitByOwner(p); err == nil {
		t.Fatal("a profile without inuse_space was split")
	}
}

func TestFloorReportComputesItsRatios(t *testing.T) {
	steps := []Step{
		{Target: targetDirect, Mode: modeJSON, Rate: 500, P50: 300, P99: 1000},
		{Target: targetNginx, Mode: modeJSON, Rate: 500, P50: 400, P99: 1200},
		{Target: targetBare, Mode: modeJSON, Rate: 500, P50: 500, P99: 1600},
		{Target: targetProxy, Mode: modeJSON, Rate: 500, P50: 700, P99: 1800},
	}
	r := &Results{Steps: steps, BareTransport: "net/http", Memory: Memory{Held: []HeldStreams{
		{Target: targetProxy, Streams: 1000, PerStreamKiB: 40, PerStreamGoHeapKiB: 13, PerStreamStackKiB: 18, GoroutinesPerStream: 2},
		{Target: targetBare, Streams: 1000, PerStreamKiB: 32},
	}}}
	r.summarise()
	c := r.Comparisons[0]
	if !c.HasBare || c.BareAddedP50 != 200 || c.BareAddedP99 != 600 {
		t.Fatalf("bare comparison = %+v; want added p50 200, p99 600", c)
	}
	md := r.markdown()
	// bare added 200 vs nginx's 100: 2x; the proxy's 400 vs bare's 200: 2x;
	// at p99 bare 600 vs nginx 200: 3x, the proxy 800 vs bare 600: 1.33x.
	for _, want := range []string{
		"| json | 500 | 0.10 | 0.20 | 0.20 | 0.60 | 0.40 | 0.80 | 2.00x | 3.00x | 2.00x | 1.33x | 0 |",
		"the bare Go proxy's added p50 was 2.00x nginx's, and the proxy's added p50 was 2.00x the bare Go proxy's",
		"of 1000 held streams through the proxy, each took 40.0 KiB RSS (the bare Go proxy's: 32.0 KiB, 1.25x); 13.0 KiB",
		"| 1000 | bare | 32.0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	r.Steps = steps[:2:2]
	r.Steps = append(r.Steps, steps[3])
	r.summarise()
	if strings.Contains(r.markdown(), "The Go floor") {
		t.Error("the floor section was rendered without the yardstick's steps")
	}
}

func TestSpan(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want string
	}{
		{nil, "-"},
		{[]float64{0, 0}, "-"},
		{[]float64{2, 0, 1.5}, "1.50-2.00x"},
		{[]float64{1.234}, "1.23x"},
	} {
		if got := span(c.in); got != c.want {
			t.Errorf("span(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
