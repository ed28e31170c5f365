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
	"net"
	"strconv"
	"testing"
)

// TestFreeAddrAvoidsTheEphemeralRange: every address is bindable, none is
// handed out twice, and none lies where the kernel picks ports for ":0"
// listeners and outgoing connections, which could take it before the child
// binds it.
func TestFreeAddrAvoidsTheEphemeralRange(t *testing.T) {
	first, last := ephemeralRange()
	seen := map[string]bool{}
	for range 300 {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port >= first && port <= last {
			t.Fatalf("%s lies in the ephemeral range [%d, %d]", addr, first, last)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		_ = l.Close()
	}
}

// TestFreeAddrSkipsPortsInUseAndHandedOut: from three ports, the middle one
// listened on, the two others come out once each, and then there is none.
func TestFreeAddrSkipsPortsInUseAndHandedOut(t *testing.T) {
	busy, lo := threePortsMiddleBusy(t)
	defer busy.Close()
	got := map[string]bool{}
	for range 2 {
		addr, err := freeAddrIn(lo, lo+3)
		if err != nil {
			t.Fatal(err)
		}
		if addr == busy.Addr().String() || got[addr] {
			t.Fatalf("got %s; busy %s, earlier %v", addr, busy.Addr(), got)
		}
		got[addr] = true
	}
	if addr, err := freeAddrIn(lo, lo+3); err == nil {
		t.Fatalf("a fourth port from three: %s", addr)
	}
}

// threePortsMiddleBusy finds ports lo, lo+1, lo+2 of which lo+1 is listened
// on (returned) and the others were free a moment ago.
func threePortsMiddleBusy(t *testing.T) (net.Listener, int) {
	listen := func(port int) net.Listener {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return nil
		}
		return l
	}
	for range 100 {
		busy := listen(0)
		if busy == nil {
			t.Fatal("cannot listen on loopback")
		}
		port := busy.Addr().(*net.TCPAddr).Port
		below, above := listen(port-1), listen(port+1)
		if below != nil && above != nil {
			_, _ = below.Close(), above.Close()
			return busy, port - 1
		}
		for _, l := range []net.Listener{busy, below, above} {
			if l != nil {
				_ = l.Close()
			}
		}
	}
	t.Fatal("no port with both neighbours free in 100 tries")
	return nil, 0
}
