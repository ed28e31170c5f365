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
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func (f *fixture) admin(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, out := mustDo(t)(f.client().Do(req))
	return resp.StatusCode, out
}

func TestAdminEndpoints(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 10}))
	hi := anthropicBody("hi", 10, false)
	status := func() int {
		resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", hi))
		return resp.StatusCode
	}

	if code, body := f.admin(t, "POST", "/_fake/faults", `[{"kind":"status","status":529,"count":1},{"kind":"rate_limit","retry_after":"2s","key":"k1"}]`); code != 200 {
		t.Fatalf("add faults: %d %s", code, body)
	}
	code, body := f.admin(t, "GET", "/_fake/faults", "")
	var listed []faultWire
	if err := json.Unmarshal(body, &listed); err != nil || code != 200 || len(listed) != 2 || listed[1].RetryAfter != "2s" {
		t.Fatalf("list faults: %d %s %v", code, body, err)
	}
	if s := status(); s != 529 {
		t.Errorf("first request: %d", s)
	}
	if s := status(); s != 429 {
		t.Errorf("second request: %d", s)
	}
	if code, _ := f.admin(t, "DELETE", "/_fake/faults", ""); code != 200 {
		t.Fatal(code)
	}
	if s := status(); s != 200 {
		t.Errorf("after clear: %d", s)
	}
	for _, bad := range []string{`{"kind":"nope"}`, `{"kind":"slow_headers"}`, `{"kind":"slow_stream","delay":"soon"}`, `not json`} {
		if code, _ := f.admin(t, "POST", "/_fake/faults", bad); code != 400 {
			t.Errorf("fault %s: %d", bad, code)
		}
	}
	if len(f.p.Faults()) != 0 {
		t.Errorf("invalid faults were added: %v", f.p.Faults())
	}

	if code, _ := f.admin(t, "POST", "/_fake/revoke?key=k1", ""); code != 200 {
		t.Fatal(code)
	}
	if s := status(); s != 401 {
		t.Errorf("revoked: %d", s)
	}
	if code, _ := f.admin(t, "POST", "/_fake/forbid?key=k1", ""); code != 200 {
		t.Fatal(code)
	}
	if s := status(); s != 403 {
		t.Errorf("forbidden: %d", s)
	}
	if code, _ := f.admin(t, "POST", "/_fake/restore?key=k1", ""); code != 200 {
		t.Fatal(code)
	}
	if code, _ := f.admin(t, "POST", "/_fake/revoke?key=ghost", ""); code != 404 {
		t.Errorf("revoke unknown key: %d", code)
	}

	if code, _ := f.admin(t, "POST", "/_fake/hold", ""); code != 200 || f.p.hold.Load() == nil {
		t.Fatalf("hold: %d", code)
	}
	if code, _ := f.admin(t, "POST", "/_fake/release", ""); code != 200 || f.p.hold.Load() != nil {
		t.Fatalf("release: %d", code)
	}

	code, body = f.admin(t, "GET", "/_fake/stats", "")
	var st Stats
	if err := json.Unmarshal(body, &st); err != nil || code != 200 {
		t.Fatalf("stats: %d %s", code, body)
	}
	if k := st.Keys["k1"]; k.Requests != 5 || k.OK != 1 || k.RateLimited != 1 || k.Errors != 3 || k.Org != "orgA" {
		t.Errorf("stats %+v", k)
	}
	if code, _ := f.admin(t, "DELETE", "/_fake/stats", ""); code != 200 || f.p.Stats().Total.Requests != 0 {
		t.Errorf("reset stats: %d %+v", code, f.p.Stats().Total)
	}
	if code, _ := f.admin(t, "GET", "/_fake/nothing", ""); code != 404 {
		t.Errorf("unknown admin path: %d", code)
	}
}
