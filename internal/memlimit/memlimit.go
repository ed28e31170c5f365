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

// Package memlimit sets the Go runtime's soft memory limit from the
// container's memory limit, so that a burst near the limit makes the
// collector work harder instead of the kernel killing the pod.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction of the container's limit the Go heap aims to stay under: the
// rest is for goroutine stacks, the runtime and memory outside the Go heap
// (measured in bench/results/attack.md with 400 MiB of 512 MiB).
const Fraction = 0.8

// CgroupRoot is where a container sees its own cgroup.
const CgroupRoot = "/sys/fs/cgroup"

// unlimitedV1 is the smallest cgroup v1 value that means "no limit" (the
// kernel reports a page-rounded LONG_MAX).
const unlimitedV1 = 1 << 62

// Apply sets the runtime's memory limit to Fraction of the container's
// memory limit read under cgroupRoot, and returns the limit in force and
// where it came from: "GOMEMLIMIT" (an explicit setting always wins and is
// left alone), "cgroup", or "none" (no container limit: nothing is set).
func Apply(cgroupRoot string) (int64, string, error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT", nil
	}
	limit, ok, err := containerLimit(cgroupRoot)
	if err != nil || !ok {
		return debug.SetMemoryLimit(-1), "none", err
	}
	soft := int64(float64(limit) * Fraction)
	debug.SetMemoryLimit(soft)
	return soft, "cgroup", nil
}

// containerLimit reads the memory limit of the cgroup at root: cgroup v2's
// memory.max, else v1's memory/memory.limit_in_bytes. ok is false when
// there is no limit or no cgroup file (not in a container).
func containerLimit(root string) (limit int64, ok bool, err error) {
	for _, name := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		raw, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, false, fmt.Errorf("read cgroup memory limit: %w", err)
		}
		v := strings.TrimSpace(string(raw))
		if v == "max" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("parse cgroup memory limit %q: %w", v, err)
		}
		if n <= 0 || n >= unlimitedV1 {
			return 0, false, nil
		}
		return n, true, nil
	}
	return 0, false, nil
}
