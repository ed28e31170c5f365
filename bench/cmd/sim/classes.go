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
	"bytes"
	"io"
	"net/http"
	"sync"
)

// classCounter counts, per class of the mix, the requests the fake
// provider admitted (answered 200) while counting is on: the served mix.
// The proxy forwards request bodies unchanged, and every class has a body
// of its own length, so the length names the class.
type classCounter struct {
	byLen map[int64]int
	mu    sync.Mutex
	ok    []int64
}

func newClassCounter(bs bodies) *classCounter {
	c := &classCounter{byLen: make(map[int64]int, len(bs)), ok: make([]int64, len(bs))}
	for i, b := range bs {
		c.byLen[int64(len(b))] = i
	}
	return c
}

// classOf returns r's class, or -1; it reads (and restores) a body sent
// without a length.
func (c *classCounter) classOf(r *http.Request) int {
	n := r.ContentLength
	if n < 0 && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return -1
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		n = int64(len(b))
	}
	if i, ok := c.byLen[n]; ok {
		return i
	}
	return -1
}

// served counts one admitted request of class i.
func (c *classCounter) served(i int) {
	if i < 0 {
		return
	}
	c.mu.Lock()
	c.ok[i]++
	c.mu.Unlock()
}

// counts returns a copy of the counts.
func (c *classCounter) counts() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.ok...)
}
