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

package objectid

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func testSealer(t testing.TB, fill byte) *Sealer {
	t.Helper()
	s, err := New(bytes.Repeat([]byte{fill}, MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpensWithTheSameSecretOnly(t *testing.T) {
	a, b, other := testSealer(t, 1), testSealer(t, 1), testSealer(t, 2)
	ref := Ref{Key: "anthropic-keys/primary", Client: "team-a", ID: "file_011CNha8iCJcU1wXNR6q4V8w"}
	id := a.Seal("ns/pool", ref)
	if !strings.HasPrefix(id, "file_"+Marker) || strings.Contains(id, ref.ID) || strings.Contains(id, ref.Client) {
		t.Fatalf("sealed id %q: want the provider's prefix, the marker and nothing readable", id)
	}
	if id2 := a.Seal("ns/pool", ref); id2 != id {
		t.Fatalf("sealing twice gave %q and %q: a client would see another id on a read", id, id2)
	}
	got, err := b.Open("ns/pool", id) // another replica, or after a restart
	if err != nil || got != ref {
		t.Fatalf("Open = %+v, %v; want %+v", got, err, ref)
	}
	if _, err := other.Open("ns/pool", id); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another installation's secret opened it: %v", err)
	}
	if _, err := a.Open("ns/other-pool", id); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another pool's scope opened it: %v", err)
	}
}

func TestSealWithoutPrefix(t *testing.T) {
	s := testSealer(t, 3)
	for _, raw := range []string{"abc123", "x", "", "-_-", "kp1kp1"} {
		ref := Ref{Key: "k/v", Client: "c", ID: raw}
		id := s.Seal("ns/p", ref)
		if got, err := s.Open("ns/p", id); err != nil || got != ref {
			t.Errorf("raw %q sealed %q: Open = %+v, %v", raw, id, got, err)
		}
	}
}

func TestEveryAlteredByteIsRefused(t *testing.T) {
	s := testSealer(t, 4)
	id := s.Seal("ns/p", Ref{Key: "keys/a", Client: "team-a", ID: "batch_abc"})
	for i := range len(id) {
		for _, c := range []byte{'A', 'z', '0', '-', '_'} {
			if id[i] == c {
				continue
			}
			altered := id[:i] + string(c) + id[i+1:]
			if ref, err := s.Open("ns/p", altered); err == nil {
				t.Fatalf("altered id %q (byte %d) opened to %+v", altered, i, ref)
			}
		}
	}
	for _, raw := range []string{"batch_abc", "file-abc", "kp1", "file_kp1", "", "resp_kp1AAAA"} {
		if _, err := s.Open("ns/p", raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", raw, err)
		}
	}
}

func TestNewRefusesAShortSecret(t *testing.T) {
	if _, err := New(make([]byte, MinSecretBytes-1)); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

// FuzzOpen: no input opens unless it was sealed, and none panics; what
// opens seals back to itself.
func FuzzOpen(f *testing.F) {
	s := testSealer(f, 5)
	f.Add(s.Seal("ns/p", Ref{Key: "keys/a", Client: "team-a", ID: "file_abc"}))
	f.Add(s.Seal("ns/p", Ref{ID: "abc"}))
	f.Add("file_kp1AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("kp1")
	f.Fuzz(func(t *testing.T, id string) {
		ref, err := s.Open("ns/p", id)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open(%q) = %v, want ErrInvalid", id, err)
			}
			return
		}
		if again := s.Seal("ns/p", ref); again != id {
			t.Fatalf("Open(%q) = %+v, which seals to %q: a second id for one object", id, ref, again)
		}
	})
}
