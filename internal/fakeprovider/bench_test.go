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

package fakeprovider

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// discardWriter is a minimal http.ResponseWriter and Flusher, so benchmarks
// measure the provider rather than a recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Flush()                      {}

func benchProvider(b *testing.B, stream bool) {
	keys := make([]Key, 8)
	for i := range keys {
		keys[i] = Key{Key: "k" + string(rune('0'+i)), Org: "org" + string(rune('0'+i%2))}
	}
	lim := Limits{RPM: 1 << 40, ITPM: 1 << 40, OTPM: 1 << 40}
	p := New(Config{Keys: keys, Limits: map[string]Limits{"org0": lim, "org1": lim}})
	body := anthropicBody(strings.Repeat("hello ", 50), 1024, stream)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := keys[next.Add(1)%int64(len(keys))].Key
		w := &discardWriter{}
		for pb.Next() {
			r, _ := http.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(body))
			r.Header.Set("x-api-key", key)
			w.h, w.status = http.Header{}, 0
			p.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	})
}

func BenchmarkAnthropicMessage(b *testing.B) { benchProvider(b, false) }

func BenchmarkAnthropicStream(b *testing.B) { benchProvider(b, true) }
