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

package provider

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// TestVertexRoute: the path's project becomes the credential's and its
// location the credential's region (else the regional upstream's, else
// the client's); an official host follows the location.
func TestVertexRoute(t *testing.T) {
	const claude = "/publishers/anthropic/models/claude-opus-5-5:rawPredict"
	for _, tc := range []struct {
		region, host, path, wantHost, wantPath string
	}{
		{"europe-west1", "aiplatform.googleapis.com", "/v1/projects/client/locations/us-east5" + claude,
			"europe-west1-aiplatform.googleapis.com", "/v1/projects/mine/locations/europe-west1" + claude},
		{"", "us-east5-aiplatform.googleapis.com", "/v1/projects/client/locations/global" + claude,
			"us-east5-aiplatform.googleapis.com", "/v1/projects/mine/locations/us-east5" + claude},
		{"", "aiplatform.googleapis.com", "/v1/projects/client/locations/global" + claude,
			"aiplatform.googleapis.com", "/v1/projects/mine/locations/global" + claude},
		{"global", "us-east5-aiplatform.googleapis.com", "/v1/projects/client/locations/us-east5" + claude,
			"aiplatform.googleapis.com", "/v1/projects/mine/locations/global" + claude},
		{"us-east5", "gateway.example.com", "/v1/projects/client/locations/global" + claude,
			"gateway.example.com", "/v1/projects/mine/locations/us-east5" + claude},
		{"us-east5", "aiplatform.googleapis.com", "/v1beta1/publishers/google/models",
			"us-east5-aiplatform.googleapis.com", "/v1beta1/publishers/google/models"},
	} {
		a := &vertexAuth{key: vertexKey{ProjectID: "mine", Region: tc.region}}
		r := &http.Request{URL: &url.URL{Scheme: "https", Host: tc.host, Path: tc.path}, Host: tc.host}
		a.route(r)
		if r.URL.Host != tc.wantHost || r.Host != tc.wantHost || r.URL.Path != tc.wantPath {
			t.Errorf("region %q, %s%s: sent to %s%s, want %s%s", tc.region, tc.host, tc.path, r.URL.Host, r.URL.Path, tc.wantHost, tc.wantPath)
		}
	}
}

// TestVertexRefusedCredential: a key the token endpoint refuses (here a
// revoked service account), and an entry that is no service-account key,
// are answered as Vertex answers a refused token, which KeyInvalid blames,
// without the entry in the answer; a valid key gets a token and is served.
func TestVertexRefusedCredential(t *testing.T) {
	fake := fakeprovider.New(fakeprovider.Config{Keys: []fakeprovider.Key{{Key: "sa@p.iam.gserviceaccount.com", Org: "p"}}})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	key, err := fake.ServiceAccountKey("sa@p.iam.gserviceaccount.com", "p", srv.URL+"/token")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(srv.URL)
	check := func(value string) (int, string) {
		resp, err := Vertex.Authenticate(http.DefaultTransport, value).RoundTrip(Vertex.KeyCheck(up).WithContext(t.Context()))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := check(string(key)); status != http.StatusOK {
		t.Fatalf("valid key: %d %s", status, body)
	}
	if err := fake.RevokeKey("sa@p.iam.gserviceaccount.com"); err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{"revoked": string(key), "not a key": `{"private_key":"half"}`} {
		status, body := check(value)
		if !Vertex.KeyInvalid(status, []byte(body)) || strings.Contains(body, "PRIVATE KEY") || strings.Contains(body, "half") {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
}
