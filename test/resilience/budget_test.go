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

package resilience

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// budgetPool is a KeyPool whose one client, "app", has a small daily token
// budget: a few requests spend it.
const budgetPool = `
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: budgeted, namespace: resilience}
spec:
  upstream: FAKE
  keys: [{secretRef: {name: keys}}]
  clientAuth: {secretRef: {name: clients}}
  clients:
  - name: app
    quota: {dailyTokens: 40}
`

// callBody is call with the answer's body.
func (m *manager) callBody(pool string) (int, string) {
	req, err := http.NewRequest(http.MethodPost, m.proxyURL+"/pools/"+namespace+"/"+pool+"/v1/messages",
		strings.NewReader(`{"model":"claude-test","max_tokens":16,"messages":[{"role":"user","content":"hello there"}]}`))
	if err != nil {
		return 0, ""
	}
	req.Header.Set("X-Api-Key", clientToken)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, ""
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, string(b)
}

// TestBudgetSurvivesRestart spends a client's daily token budget, checks
// that the next request gets a 429 naming the quota before any key is
// used, kills the manager (SIGKILL: nothing flushed on the way out) once
// the status recorded the spend, and checks that the new process refuses
// the client too: the budget is still spent.
func TestBudgetSurvivesRestart(t *testing.T) {
	c := getCluster(t)
	if _, err := c.kubectl.Run(strings.ReplaceAll(budgetPool, "FAKE", c.fakeURL), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	first := c.startManager(t, "manager")
	served := 0
	var code int
	var body string
	err := testproc.Poll(60*time.Second, 25*time.Millisecond, func() error {
		code, body = first.callBody("budgeted")
		switch code {
		case http.StatusOK:
			served++
			return fmt.Errorf("still served")
		case http.StatusTooManyRequests:
			return nil
		}
		return fmt.Errorf("pool answered %d", code)
	})
	if err != nil || served == 0 {
		t.Fatalf("budget never spent (%d served, last %d %s): %v\n%s", served, code, body, err, first.Output())
	}
	if !strings.Contains(body, "spec.clients[app].quota.dailyTokens (40)") || !strings.Contains(body, "rate_limit_error") {
		t.Fatalf("429 body %s, want a rate_limit_error naming the dailyTokens quota", body)
	}
	upstreamBefore := c.fake.Stats().Keys
	if code, _ := first.callBody("budgeted"); code != http.StatusTooManyRequests {
		t.Fatalf("request after the budget answered %d", code)
	}
	for k, s := range c.fake.Stats().Keys {
		if s.Requests != upstreamBefore[k].Requests {
			t.Fatalf("a request over its quota reached key %s upstream", k)
		}
	}
	// The leader's status records the spend (every --status-interval, 1s).
	var spent int64
	err = testproc.Poll(30*time.Second, 100*time.Millisecond, func() error {
		out, err := c.kubectl.Run("", "-n", namespace, "get", "keypool", "budgeted", "-o",
			`jsonpath={.status.clients[?(@.name=="app")].budget.dayTokens}`)
		if err != nil {
			return err
		}
		if spent, err = strconv.ParseInt(strings.TrimSpace(out), 10, 64); err != nil || spent < 40 {
			return fmt.Errorf("status budget %q", out)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("spend not in status: %v", err)
	}
	t.Logf("%d requests spent %d tokens of a 40-token day budget", served, spent)

	first.Kill()
	second := c.startManager(t, "manager")
	err = testproc.Poll(restartBudget, 25*time.Millisecond, func() error {
		code, body = second.callBody("budgeted")
		switch code {
		case http.StatusOK:
			t.Fatalf("the restarted manager served a client whose budget is spent")
		case http.StatusTooManyRequests:
			return nil
		}
		return fmt.Errorf("pool answered %d", code) // 401 or nothing: not built yet
	})
	if err != nil {
		t.Fatalf("restarted manager: %v\n%s", err, second.Output())
	}
	if !strings.Contains(body, "quota.dailyTokens") {
		t.Fatalf("429 after restart does not name the quota: %s", body)
	}
}
