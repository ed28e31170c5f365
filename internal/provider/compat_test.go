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
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// compatibleHostHeaders are the rate-limit headers each OpenAI-compatible
// host of docs/guides/clients.md sends on a 200, as the hosts document them.
var compatibleHostHeaders = map[string]map[string]string{
	"OpenAI": {
		"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999", "x-ratelimit-reset-requests": "6ms",
		"x-ratelimit-limit-tokens": "2000000", "x-ratelimit-remaining-tokens": "1999986", "x-ratelimit-reset-tokens": "1m30.5s",
	},
	"Groq": {
		"x-ratelimit-limit-requests": "14400", "x-ratelimit-remaining-requests": "14370", "x-ratelimit-reset-requests": "2m59.56s",
		"x-ratelimit-limit-tokens": "6000", "x-ratelimit-remaining-tokens": "5997", "x-ratelimit-reset-tokens": "7.66s",
	},
	"Mistral": {
		"x-ratelimitbysize-limit-minute": "500000", "x-ratelimitbysize-remaining-minute": "467993", "ratelimitbysize-reset": "40",
		"x-ratelimitbysize-limit-month": "1000000000", "x-ratelimitbysize-remaining-month": "999000000",
		"ratelimitbysize-limit": "500000", "ratelimitbysize-remaining": "467993", "ratelimitbysize-query-cost": "32007",
	},
	"Together AI": {
		"x-ratelimit-limit": "10", "x-ratelimit-remaining": "9", "x-ratelimit-reset": "1",
		"x-tokenlimit-limit": "200000", "x-tokenlimit-remaining": "199000",
	},
	"DeepSeek":                 {},
	"vLLM":                     {},
	"Ollama (OpenAI endpoint)": {},
}

// TestCompatibleHostsTable checks docs/guides/clients.md's table of compatible
// hosts: every host listed has its headers here, and what the OpenAI
// provider learns from them is what the table's last column says.
func TestCompatibleHostsTable(t *testing.T) {
	rows := compatibleHostsRows(t)
	if len(rows) != len(compatibleHostHeaders) {
		t.Errorf("docs list %d hosts, the test knows %d", len(rows), len(compatibleHostHeaders))
	}
	for host, learned := range rows {
		sample, ok := compatibleHostHeaders[host]
		if !ok {
			t.Errorf("docs list %q, whose headers the test does not know", host)
			continue
		}
		h := http.Header{"Content-Type": {"application/json"}}
		for k, v := range sample {
			h.Set(k, v)
		}
		l := OpenAI.ParseLimits(h, t0)
		var got []string
		for _, d := range []struct {
			dim  ratelimit.Dimension
			name string
		}{{ratelimit.Requests, "requests"}, {ratelimit.InputTokens, "input tokens"}, {ratelimit.OutputTokens, "output tokens"}, {ratelimit.Tokens, "tokens"}} {
			if o := l.Dimensions[d.dim]; o.Reported() && o.Limit > 0 {
				got = append(got, d.name)
			}
		}
		if len(got) == 0 {
			got = []string{"nothing"}
		}
		if strings.Join(got, ", ") != learned {
			t.Errorf("%s: the pool learns %q, docs/guides/clients.md says %q", host, strings.Join(got, ", "), learned)
		}
	}
}

// compatibleHostsRows reads the Host and Learned columns of the table under
// "## Compatible hosts" in docs/guides/clients.md.
func compatibleHostsRows(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/guides/clients.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Compatible hosts\n")
	if !ok {
		t.Fatal(`docs/guides/clients.md has no "## Compatible hosts" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]string{}
	for line := range strings.SplitSeq(section, "\n") {
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if !strings.HasPrefix(line, "|") || len(cells) != 4 {
			continue
		}
		host, learned := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[3])
		if host == "Host" || strings.HasPrefix(host, "---") {
			continue
		}
		rows[host] = learned
	}
	if len(rows) == 0 {
		t.Fatal("no rows in docs/guides/clients.md's compatible hosts table")
	}
	return rows
}
