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

// heapElem is an element of an indexedHeap: it knows its place in the heap,
// so that it can be moved or removed in O(log n) when its key changes.
type heapElem[T any] interface {
	comparable
	before(T) bool
	heapIndex() *int // -1 when not in a heap
}

// indexedHeap is a binary min-heap of elements that track their own index.
type indexedHeap[T heapElem[T]] struct {
	items []T
}

func (h *indexedHeap[T]) len() int { return len(h.items) }

func (h *indexedHeap[T]) top() T { return h.items[0] }

func (h *indexedHeap[T]) contains(x T) bool { return *x.heapIndex() >= 0 }

func (h *indexedHeap[T]) push(x T) {
	*x.heapIndex() = len(h.items)
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

// fix restores the order after x's key changed.
func (h *indexedHeap[T]) fix(x T) {
	i := *x.heapIndex()
	if !h.down(i) {
		h.up(i)
	}
}

// remove takes x out of the heap; x must be in it.
func (h *indexedHeap[T]) remove(x T) {
	i := *x.heapIndex()
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	var zero T
	h.items[last] = zero
	h.items = h.items[:last]
	*x.heapIndex() = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

// init restores the order after any number of keys changed.
func (h *indexedHeap[T]) init() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *indexedHeap[T]) pop() T {
	x := h.items[0]
	h.remove(x)
	return x
}

func (h *indexedHeap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.items[i].heapIndex() = i
	*h.items[j].heapIndex() = j
}

func (h *indexedHeap[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.items[j].before(h.items[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

// down sifts i down and reports whether it moved.
func (h *indexedHeap[T]) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.items[r].before(h.items[l]) {
			j = r
		}
		if !h.items[j].before(h.items[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
