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
	"context"
	"fmt"
	"strings"

	"github.com/google/pprof/profile"
)

// ownModule prefixes every function of this module's code.
const ownModule = "github.com/keypool-dev/keypool-operator/"

// heapByOwner reads a process's in-use heap from its pprof endpoint, after
// a garbage collection, and splits it by who allocated: own is what was
// allocated with a frame of this module on the stack (the proxy's code, and
// what it asked of net/http or the transport), goOnly what net/http's
// server and the runtime allocated on their own: per connection, the
// server's read and write buffers, its conn, request and response, which
// any server built on net/http pays, whatever its handler does. The
// profile is sampled (runtime.MemProfileRate) and scaled by pprof; callers
// lower the rate for exact enough figures.
func heapByOwner(ctx context.Context, pprofURL string) (own, goOnly int64, err error) {
	raw, err := pprofText(ctx, pprofURL+"/debug/pprof/heap?gc=1")
	if err != nil {
		return 0, 0, err
	}
	p, err := profile.Parse(strings.NewReader(raw))
	if err != nil {
		return 0, 0, fmt.Errorf("parse heap profile: %w", err)
	}
	return splitByOwner(p)
}

// splitByOwner sums p's inuse_space samples by owner (see heapByOwner).
func splitByOwner(p *profile.Profile) (own, goOnly int64, err error) {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "inuse_space" {
			idx = i
		}
	}
	if idx < 0 {
		return 0, 0, fmt.Errorf("heap profile without inuse_space")
	}
	for _, s := range p.Sample {
		if ownsSample(s) {
			own += s.Value[idx]
		} else {
			goOnly += s.Value[idx]
		}
	}
	return own, goOnly, nil
}

// ownsSample reports whether any frame of s's stack is this module's.
func ownsSample(s *profile.Sample) bool {
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil && strings.HasPrefix(line.Function.Name, ownModule) {
				return true
			}
		}
	}
	return false
}
