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

package proxy

import (
	"net/http/httptest"
	"testing"
)

// TestUsageChunkFilter: however the stream is split into reads, every
// event but the usage-only chunk reaches the client, byte for byte.
func TestUsageChunkFilter(t *testing.T) {
	for _, eol := range []string{"\n", "\r\n"} {
		ev := func(data string) string { return "data: " + data + eol + eol }
		kept := ev(`{"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}`) +
			ev(`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`)
		usageChunk := ev(`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}`)
		done := ev("[DONE]")
		stream := kept + usageChunk + done
		for step := 1; step <= len(stream); step++ {
			f := &usageChunkFilter{}
			w := httptest.NewRecorder()
			for i := 0; i < len(stream); i += step {
				if err := f.write(w, []byte(stream[i:min(i+step, len(stream))])); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.flush(w); err != nil {
				t.Fatal(err)
			}
			if got, want := w.Body.String(), kept+done; got != want {
				t.Fatalf("eol %q, reads of %d: client got %q, want %q", eol, step, got, want)
			}
		}
	}
}
