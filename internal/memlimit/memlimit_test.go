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

package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func writeFile(t *testing.T, root, name, content string) {
	t.Helper()
	path := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestApply(t *testing.T) {
	t.Cleanup(func() { debug.SetMemoryLimit(math.MaxInt64) })
	for _, tc := range []struct {
		name, file, content string
		want                int64
		source              string
		wantErr             bool
	}{
		{"cgroup v2, 512 MiB", "memory.max", "536870912\n", 429496729, "cgroup", false},
		{"cgroup v2, no limit", "memory.max", "max\n", math.MaxInt64, "none", false},
		{"cgroup v1, 1 GiB", "memory/memory.limit_in_bytes", "1073741824\n", 858993459, "cgroup", false},
		{"cgroup v1, no limit", "memory/memory.limit_in_bytes", "9223372036854771712\n", math.MaxInt64, "none", false},
		{"not in a container", "", "", math.MaxInt64, "none", false},
		{"garbage", "memory.max", "lots\n", math.MaxInt64, "none", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			root := t.TempDir()
			if tc.file != "" {
				writeFile(t, root, tc.file, tc.content)
			}
			got, source, err := Apply(root)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %t", err, tc.wantErr)
			}
			if got != tc.want || source != tc.source || debug.SetMemoryLimit(-1) != tc.want {
				t.Errorf("Apply = %d from %s (runtime %d), want %d from %s", got, source, debug.SetMemoryLimit(-1), tc.want, tc.source)
			}
		})
	}
}

// TestExplicitGOMEMLIMITWins: an operator's GOMEMLIMIT is never overridden.
func TestExplicitGOMEMLIMITWins(t *testing.T) {
	t.Cleanup(func() { debug.SetMemoryLimit(math.MaxInt64) })
	t.Setenv("GOMEMLIMIT", "300MiB")
	debug.SetMemoryLimit(300 << 20) // what the runtime read at start
	root := t.TempDir()
	writeFile(t, root, "memory.max", "536870912\n")
	got, source, err := Apply(root)
	if err != nil || got != 300<<20 || source != "GOMEMLIMIT" {
		t.Errorf("Apply = %d from %s (%v), want %d from GOMEMLIMIT", got, source, err, 300<<20)
	}
}
