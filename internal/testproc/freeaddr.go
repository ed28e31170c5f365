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

package testproc

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowestPort is where FreeAddr's ports start: above the well-known and the
// commonly configured service ports.
const lowestPort = 10000

var (
	handedOutMu sync.Mutex
	handedOut   = map[int]bool{}
)

// FreeAddr returns a loopback address with a port nobody listens on now, for
// a child process to bind.
//
// The port comes from outside the kernel's ephemeral range. A port from
// inside it (what listening on ":0" gives) is free again once checked, and
// before the child binds it the kernel may hand it to an outgoing connection
// or to another server asking for ":0" (an envtest control plane's etcd and
// kube-apiserver do); the child then fails with "address already in use".
// One process never hands out a port twice, as a child given the last one
// may not have bound it yet.
func FreeAddr() (string, error) { return freeAddrIn(nonEphemeralPorts()) }

// freeAddrIn is FreeAddr drawing from the ports [lo, hi).
func freeAddrIn(lo, hi int) (string, error) {
	handedOutMu.Lock()
	defer handedOutMu.Unlock()
	const tries = 200
	for range tries {
		port := lo + rand.IntN(hi-lo)
		if handedOut[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // someone listens there
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			return "", fmt.Errorf("free port %d: %w", port, err)
		}
		handedOut[port] = true
		return addr, nil
	}
	return "", fmt.Errorf("no free loopback port in [%d, %d) after %d tries", lo, hi, tries)
}

// nonEphemeralPorts is the port range [lo, hi) FreeAddr draws from: the
// larger side of the ephemeral range, or every port when that covers all.
func nonEphemeralPorts() (lo, hi int) {
	first, last := ephemeralRange()
	below, above := first-lowestPort, 65535-last
	switch {
	case below >= above && below > 0:
		return lowestPort, first
	case above > 0:
		return last + 1, 65536
	default:
		return lowestPort, 65536
	}
}

// ephemeralRange is the kernel's range for ports it picks itself, or
// Linux's default when it cannot be read (other systems default higher).
func ephemeralRange() (first, last int) {
	first, last = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return first, last
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return first, last
	}
	a, errA := strconv.Atoi(f[0])
	z, errZ := strconv.Atoi(f[1])
	if errA != nil || errZ != nil || a > z {
		return first, last
	}
	return a, z
}
