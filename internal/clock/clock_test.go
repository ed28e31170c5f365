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

package clock

import (
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeMovesOnlyWhenTold(t *testing.T) {
	c := NewFake(t0)
	c.Advance(time.Minute)
	if !c.Now().Equal(t0.Add(time.Minute)) {
		t.Errorf("after Advance: %v", c.Now())
	}
	c.Set(t0) // backwards: ignored
	if !c.Now().Equal(t0.Add(time.Minute)) {
		t.Errorf("Set moved the clock backwards to %v", c.Now())
	}
	c.Set(t0.Add(time.Hour))
	if !c.Now().Equal(t0.Add(time.Hour)) {
		t.Errorf("after Set: %v", c.Now())
	}
}

func TestFakeTimersFireInOrderWhenDue(t *testing.T) {
	c := NewFake(t0)
	fired := make(chan int, 3)
	c.At(t0.Add(2*time.Second), func() { fired <- 2 })
	c.At(t0.Add(time.Second), func() { fired <- 1 })
	stop := c.At(t0.Add(3*time.Second), func() { fired <- 3 })
	if !c.WaitTimers(time.Second, func(n int) bool { return n == 3 }) {
		t.Fatalf("%d timers pending, want 3", c.Timers())
	}
	c.Advance(999 * time.Millisecond)
	if c.Timers() != 3 {
		t.Fatalf("a timer fired early: %d pending", c.Timers())
	}
	c.Advance(time.Second + time.Millisecond)
	got := map[int]bool{<-fired: true, <-fired: true}
	if !got[1] || !got[2] {
		t.Errorf("fired %v, want 1 and 2", got)
	}
	if !stop() {
		t.Error("stop of a pending timer reported false")
	}
	if stop() {
		t.Error("second stop reported true")
	}
	c.Advance(time.Hour)
	select {
	case n := <-fired:
		t.Errorf("stopped timer %d fired", n)
	default:
	}
}

func TestFakeWaitTimersTimesOut(t *testing.T) {
	c := NewFake(t0)
	if c.WaitTimers(time.Millisecond, func(n int) bool { return n > 0 }) {
		t.Error("WaitTimers reported a timer nobody armed")
	}
}

func TestFakeWaitTimersWakesOnArm(t *testing.T) {
	c := NewFake(t0)
	armed := make(chan bool)
	go func() { armed <- c.WaitTimers(10*time.Second, func(n int) bool { return n == 1 }) }()
	c.At(t0.Add(time.Second), func() {})
	if !<-armed {
		t.Error("WaitTimers missed the armed timer")
	}
}

func TestTimersFallsBackToReal(t *testing.T) {
	type plain struct{ Clock }
	if _, ok := Timers(plain{Real{}}).(Real); !ok {
		t.Error("a plain Clock should get real timers")
	}
	f := NewFake(t0)
	if Timers(f) != TimerClock(f) {
		t.Error("a TimerClock should keep its own timers")
	}
	if _, ok := Or(nil).(Real); !ok {
		t.Error("Or(nil) should be the wall clock")
	}
}
