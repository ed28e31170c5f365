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

package scaledclock

import (
	"testing"
	"time"
)

func TestRunsFaster(t *testing.T) {
	s := New(1000)
	a := s.Now()
	if !s.Sleep(2*time.Second, nil) { // 2 ms of real time
		t.Fatal("Sleep reported an interruption")
	}
	if got := s.Now().Sub(a); got < 2*time.Second {
		t.Errorf("Sleep(2s) at scale 1000 let %v pass", got)
	}
	if got := s.Real(time.Second); got != time.Millisecond {
		t.Errorf("Real(1s) = %v, want 1ms", got)
	}
	done := make(chan struct{})
	close(done)
	if s.Sleep(time.Hour, done) {
		t.Error("Sleep ignored done")
	}
	if New(0).Scale != 1 {
		t.Error("scale 0 should mean 1")
	}
}
