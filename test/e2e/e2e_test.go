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

// Package e2e drives the real manager binary the way users do: a control
// plane from the envtest assets, kubectl, the fake provider as its own
// process, and the official Anthropic, OpenAI (also with its Azure option)
// and Gemini (genai) Go SDKs as clients.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// Key values are canaries: none may ever appear in the manager's logs.
const (
	clientToken = "e2e-client-token-canary-51c7"
	namespace   = "e2e"
)

var fakeKeys = strings.Join([]string{
	"e2e-ant-1=org-a", "e2e-ant-2=org-a", "e2e-ant-3=org-b", "e2e-ant-3-rotated=org-b",
	"e2e-small-1=org-small", "e2e-big-1=org-big", "e2e-oai-1=org-o", "e2e-oai-2=org-o",
	"e2e-az-1=org-az1", "e2e-az-2=org-az2", "e2e-gem-1=org-gem1", "e2e-gem-2=org-gem2", cloudFakeKey,
}, ",")

const fakeLimits = "org-a=rpm:1000,org-b=rpm:1000,org-small=rpm:3,org-big=rpm:1000,org-o=rpm:1000," +
	"org-az1=rpm:1000/tpm:1000000,org-az2=rpm:1000/tpm:1000000,org-gem1=rpm:1000,org-gem2=rpm:1000"

const manifests = `
apiVersion: v1
kind: Secret
metadata: {name: ant-keys, namespace: e2e, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {a: e2e-ant-1, b: e2e-ant-2, c: e2e-ant-3}
---
apiVersion: v1
kind: Secret
metadata: {name: clients, namespace: e2e, labels: {llm.keypool.dev/secret-type: client-tokens}}
stringData: {app: ` + clientToken + `}
---
apiVersion: v1
kind: Secret
metadata: {name: limited-keys, namespace: e2e, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {small: e2e-small-1, big: e2e-big-1}
---
apiVersion: v1
kind: Secret
metadata: {name: oai-keys, namespace: e2e, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {x: e2e-oai-1, y: e2e-oai-2}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: claude, namespace: e2e}
spec:
  upstream: FAKE
  keys: [{secretRef: {name: ant-keys}}]
  clientAuth: {secretRef: {name: clients}}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: limited, namespace: e2e}
spec:
  upstream: FAKE
  strategy: round-robin
  keys: [{secretRef: {name: limited-keys}}]
  clientAuth: {allowUnauthenticated: true}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: gpt, namespace: e2e}
spec:
  provider: openai
  upstream: FAKE
  keys: [{secretRef: {name: oai-keys}}]
  clientAuth: {secretRef: {name: clients}}
---
apiVersion: v1
kind: Secret
metadata: {name: az-keys, namespace: e2e, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {one: e2e-az-1, two: e2e-az-2}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: az, namespace: e2e}
spec:
  provider: azure
  upstream: FAKE
  keys: [{secretRef: {name: az-keys}}]
  clientAuth: {secretRef: {name: clients}}
---
apiVersion: v1
kind: Secret
metadata: {name: gem-keys, namespace: e2e, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {one: e2e-gem-1, two: e2e-gem-2}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: gem, namespace: e2e}
spec:
  provider: gemini
  upstream: FAKE
  keys: [{secretRef: {name: gem-keys}, rpmLimit: 600, itpmLimit: 100000, otpmLimit: 100000}]
  clientAuth: {secretRef: {name: clients}}
`

// cluster is everything the scenario runs against.
type cluster struct {
	kubectl    testproc.Kubectl
	proxyURL   string
	metricsURL string
	fakeURL    string
	manager    *testproc.Process
	fake       *testproc.Process
	anthropic  anthropic.Client
	openai     openai.Client
}

func TestEndToEnd(t *testing.T) {
	c := setUp(t)

	t.Run("pools become ready", func(t *testing.T) {
		for _, name := range []string{"claude", "limited", "gpt", "az", "gem"} {
			if _, err := c.kubectl.Run("", "wait", "-n", namespace, "--for=condition=Ready", "keypool/"+name, "--timeout=60s"); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("anthropic SDK", c.anthropicSDK)
	t.Run("openai SDK", c.openaiSDK)
	t.Run("openai SDK's azure option", c.azureSDK)
	t.Run("genai SDK", c.geminiSDK)
	t.Run("AWS SDK's bedrockruntime client", c.bedrockSDK)
	t.Run("Vertex AI: Claude's rawPredict and genai in Vertex mode", c.vertexAPIs)
	t.Run("requests spread across keys", c.spread)
	t.Run("a spent key cools down and traffic moves on", c.limitedKey)
	t.Run("a revoked key becomes Rejected", c.revokedKey)
	t.Run("secret rotation without restart", c.rotation)
	t.Run("kubectl get keypools shows the stats", c.printColumns)
	t.Run("deleting the KeyPool makes it answer as an unknown pool (401)", c.deletion)
	t.Run("no key or token in the logs", func(t *testing.T) {
		logs := c.manager.Output()
		for _, secret := range []string{clientToken, "e2e-ant-1", "e2e-ant-3-rotated", "e2e-small-1", "e2e-oai-1", "e2e-az-1", "e2e-gem-1",
			awsSecret1, awsSecret2, bedrockKey3, "PRIVATE KEY", "ya29."} {
			if strings.Contains(logs, secret) {
				t.Errorf("manager logs contain the secret value %q", secret)
			}
		}
		shown, err := c.kubectl.Run("", "get", "keypools,events.events.k8s.io", "-n", namespace, "-o", "yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{clientToken, awsSecret1, awsSecret2, bedrockKey3, "PRIVATE KEY", "ya29."} {
			if strings.Contains(shown, secret) {
				t.Errorf("status or events contain the secret value %q", secret)
			}
		}
	})
}

// controlPlane is where every end-to-end test starts: the manager and fake
// provider binaries built with -race, and a control plane with the CRD
// applied the way a user installs it.
type controlPlane struct {
	managerBin, fakeBin, kubeconfig string
	kubectl                         testproc.Kubectl
}

func startControlPlane(t *testing.T) controlPlane {
	t.Helper()
	ctx := context.Background()
	root := testenv.RepoRoot()
	bins := t.TempDir()
	managerBin, err := testproc.GoBuild(ctx, root, bins, "manager", "./cmd/manager", "-race")
	if err != nil {
		t.Fatal(err)
	}
	fakeBin, err := testproc.GoBuild(ctx, root, bins, "fakeprovider", "./cmd/fakeprovider", "-race")
	if err != nil {
		t.Fatal(err)
	}
	env, _, err := testenv.StartWith(testenv.AssetsDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteAdminKubeconfig(env, kubeconfig); err != nil {
		t.Fatal(err)
	}
	kubectl := testproc.Kubectl{Bin: filepath.Join(testenv.AssetsDir(), "kubectl"), Kubeconfig: kubeconfig}
	if _, err := kubectl.Run("", "apply", "--server-side", "-f", filepath.Join(root, "config", "crd", "bases")); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl.Run("", "wait", "--for=condition=Established", "crd/keypools.llm.keypool.dev", "--timeout=30s"); err != nil {
		t.Fatal(err)
	}
	return controlPlane{managerBin: managerBin, fakeBin: fakeBin, kubeconfig: kubeconfig, kubectl: kubectl}
}

func setUp(t *testing.T) *cluster {
	cp := startControlPlane(t)
	manager, fakeBin, kubeconfig := cp.managerBin, cp.fakeBin, cp.kubeconfig
	c := &cluster{kubectl: cp.kubectl}
	var err error

	fakeAddr, _ := testproc.FreeAddr()
	c.fake, err = testproc.Start("fakeprovider", nil, fakeBin, "-addr", fakeAddr, "-keys", fakeKeys, "-limits", fakeLimits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.fake.Stop(5 * time.Second) })
	if err := c.fake.WaitFor("fakeprovider listening", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	c.fakeURL = "http://" + fakeAddr

	proxyAddr, _ := testproc.FreeAddr()
	probeAddr, _ := testproc.FreeAddr()
	metricsAddr, _ := testproc.FreeAddr()
	c.proxyURL = "http://" + proxyAddr
	c.metricsURL = "http://" + metricsAddr + "/metrics"
	c.manager, err = testproc.Start("manager", []string{"KUBECONFIG=" + kubeconfig}, manager,
		"--proxy-bind-address="+proxyAddr, "--health-probe-bind-address="+probeAddr,
		"--metrics-bind-address="+metricsAddr, "--metrics-secure=false", "--status-interval=1s", "--proxy-service-url="+c.proxyURL,
		"--log-level=debug", "--shutdown-grace=5s", "--allowed-upstreams="+c.fakeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.manager.Stop(15 * time.Second)
		if t.Failed() {
			t.Logf("manager output:\n%s", c.manager.Output())
		}
	})
	if err := c.manager.WaitFor("proxy listening", 60*time.Second); err != nil {
		t.Fatal(err)
	}

	if _, err := c.kubectl.Run("", "create", "namespace", namespace); err != nil {
		t.Fatal(err)
	}
	if _, err := c.kubectl.Run(strings.ReplaceAll(manifests, "FAKE", c.fakeURL), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}

	c.anthropic = anthropic.NewClient(
		anthropicoption.WithBaseURL(c.proxyURL+"/pools/e2e/claude/"),
		anthropicoption.WithAPIKey(clientToken),
		anthropicoption.WithMaxRetries(0),
	)
	c.openai = openai.NewClient(
		openaioption.WithBaseURL(c.proxyURL+"/pools/e2e/gpt/v1/"),
		openaioption.WithAPIKey(clientToken),
		openaioption.WithMaxRetries(0),
	)
	return c
}

var messageParams = anthropic.MessageNewParams{
	Model:     "claude-sonnet-4-5",
	MaxTokens: 256,
	Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello to the key pool."))},
}

// ask sends one non-streaming message through the pool and returns the key
// that served it.
func (c *cluster) ask(t *testing.T, client anthropic.Client) string {
	t.Helper()
	var resp *http.Response
	msg, err := client.Messages.New(context.Background(), messageParams, anthropicoption.WithResponseInto(&resp))
	if err != nil {
		t.Fatalf("message through the proxy: %v", err)
	}
	if msg.Usage.OutputTokens == 0 || len(msg.Content) == 0 {
		t.Fatalf("empty answer: %+v", msg)
	}
	return resp.Header.Get("X-Keypool-Key")
}

func (c *cluster) anthropicSDK(t *testing.T) {
	if key := c.ask(t, c.anthropic); !strings.HasPrefix(key, "ant-keys/") {
		t.Errorf("x-keypool-key = %q, want a key named ant-keys/<entry>", key)
	}

	stream := c.anthropic.Messages.NewStreaming(context.Background(), messageParams)
	acc, events, err := apitest.AccumulateAnthropic(stream)
	if err != nil {
		t.Fatal(err)
	}
	if events < 4 || acc.Usage.InputTokens == 0 || acc.Usage.OutputTokens == 0 || acc.StopReason != anthropic.StopReasonEndTurn {
		t.Fatalf("stream: %d events, accumulated %+v", events, acc)
	}

	// A wrong client token is refused in Anthropic's error shape.
	bad := anthropic.NewClient(anthropicoption.WithBaseURL(c.proxyURL+"/pools/e2e/claude/"),
		anthropicoption.WithAPIKey("wrong-token"), anthropicoption.WithMaxRetries(0))
	_, err = bad.Messages.New(context.Background(), messageParams)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Type() != "authentication_error" {
		t.Fatalf("wrong token: want 401 authentication_error, got %v", err)
	}
}

func (c *cluster) openaiSDK(t *testing.T) {
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello to the key pool.")},
	}
	var resp *http.Response
	cc, err := c.openai.Chat.Completions.New(context.Background(), params, openaioption.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Choices) != 1 || cc.Usage.CompletionTokens == 0 || !strings.HasPrefix(resp.Header.Get("X-Keypool-Key"), "oai-keys/") {
		t.Fatalf("completion %+v, key %q", cc, resp.Header.Get("X-Keypool-Key"))
	}

	params.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := c.openai.Chat.Completions.NewStreaming(context.Background(), params)
	acc, err := apitest.AccumulateOpenAI(stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content == "" || acc.Usage.CompletionTokens == 0 {
		t.Fatalf("stream accumulated %+v", acc.ChatCompletion)
	}
}

func (c *cluster) spread(t *testing.T) {
	count := map[string]int{}
	for range 30 {
		count[c.ask(t, c.anthropic)]++
	}
	for _, key := range []string{"ant-keys/a", "ant-keys/b", "ant-keys/c"} {
		if count[key] < 5 {
			t.Fatalf("30 requests spread as %v; every key should serve some", count)
		}
	}
}

// limitedKey: e2e-small-1 allows 3 requests a minute. The pool learns that
// from the headers (nothing is configured) and moves traffic to the other key.
func (c *cluster) limitedKey(t *testing.T) {
	client := anthropic.NewClient(anthropicoption.WithBaseURL(c.proxyURL+"/pools/e2e/limited/"),
		anthropicoption.WithAPIKey("anything"), anthropicoption.WithMaxRetries(0))
	count := map[string]int{}
	for range 12 {
		count[c.ask(t, client)]++
	}
	if count["limited-keys/small"] > 3 || count["limited-keys/big"] < 9 {
		t.Fatalf("12 requests served as %v; the small key has 3 a minute", count)
	}
	eventually(t, 10*time.Second, func() error {
		state, err := c.keyState("limited", "limited-keys/small")
		if err != nil {
			return err
		}
		if state != "RateLimited" && state != "CoolingDown" {
			return fmt.Errorf("small key state %q, want RateLimited or CoolingDown", state)
		}
		return nil
	})
}

func (c *cluster) revokedKey(t *testing.T) {
	c.fakeAdmin(t, "/_fake/revoke?key=e2e-ant-3")
	// Every request still succeeds: the pool fails over to another key.
	for range 10 {
		c.ask(t, c.anthropic)
	}
	eventually(t, 10*time.Second, func() error {
		state, err := c.keyState("claude", "ant-keys/c")
		if err != nil {
			return err
		}
		if state != "Rejected" {
			return fmt.Errorf("revoked key state %q, want Rejected", state)
		}
		return nil
	})
	out, err := c.kubectl.Run("", "get", "events.events.k8s.io", "-n", namespace, "-o", "jsonpath={.items[*].reason}")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "KeyRejected") {
		t.Errorf("no KeyRejected event, events: %s", out)
	}
}

func (c *cluster) rotation(t *testing.T) {
	pid := c.manager.Pid()
	patch := `{"stringData":{"c":"e2e-ant-3-rotated"}}`
	if _, err := c.kubectl.Run("", "patch", "secret", "ant-keys", "-n", namespace, "--type=merge", "-p", patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		state, err := c.keyState("claude", "ant-keys/c")
		if err != nil {
			return err
		}
		if state != "Available" {
			return fmt.Errorf("rotated key state %q, want Available", state)
		}
		return nil
	})
	served := 0
	for range 15 {
		if c.ask(t, c.anthropic) == "ant-keys/c" {
			served++
		}
	}
	if served == 0 {
		t.Fatal("the rotated key serves no requests")
	}
	var stats map[string]any
	c.fakeGet(t, "/_fake/stats", &stats)
	if !strings.Contains(fmt.Sprint(stats), "e2e-ant-3-rotated") {
		t.Errorf("the fake provider saw no request with the rotated key: %v", stats)
	}
	if c.manager.Pid() != pid || processExited(c.manager) {
		t.Error("the manager restarted")
	}
}

func (c *cluster) printColumns(t *testing.T) {
	out, err := c.kubectl.Run("", "get", "keypools", "-n", namespace)
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	rows := map[string][]string{}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if i == 0 {
			header = strings.Fields(line)
			continue
		}
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	if strings.Join(header, " ") != "NAME STRATEGY KEYS AVAILABLE EXHAUSTED REMAINING RPM READY AGE" {
		t.Fatalf("header %q", header)
	}
	claude := rows["claude"]
	// NAME STRATEGY KEYS AVAILABLE EXHAUSTED REMAINING-RPM READY AGE
	if len(claude) != 8 || claude[1] != "least-loaded" || claude[2] != "3" || claude[3] != "3" || claude[4] != "0" ||
		claude[5] == "0" || claude[6] != "True" {
		t.Fatalf("claude row %q in:\n%s", claude, out)
	}
	c.wideColumns(t)
}

// wideColumns: `kubectl get kp -o wide` adds the upstream the pool's
// requests go to, the queued requests and the tokens left this minute.
func (c *cluster) wideColumns(t *testing.T) {
	out, err := c.kubectl.Run("", "get", "kp", "-n", namespace, "-o", "wide")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl get kp -n %s -o wide:\n%s", namespace, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if h := strings.Join(strings.Fields(lines[0]), " "); h != "NAME STRATEGY KEYS AVAILABLE EXHAUSTED REMAINING RPM READY UPSTREAM QUEUED TOKENS REMAINING AGE" {
		t.Fatalf("header %q", h)
	}
	rows := map[string][]string{}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	// NAME STRATEGY KEYS AVAILABLE EXHAUSTED REMAINING-RPM READY UPSTREAM QUEUED TOKENS-REMAINING AGE
	for _, name := range []string{"claude", "gem"} {
		r := rows[name]
		if len(r) != 11 || r[7] != c.fakeURL || r[8] != "0" {
			t.Errorf("%s row %q: want 11 columns, upstream %s, 0 queued", name, r, c.fakeURL)
		}
	}
	// gem's keys have configured token limits: tokens are left this minute.
	if r := rows["gem"]; len(r) == 11 && (r[9] == "0" || r[9] == "<none>") {
		t.Errorf("gem tokens remaining %q, want its keys' token limits minus what was spent", r[9])
	}
}

func (c *cluster) deletion(t *testing.T) {
	if _, err := c.kubectl.Run("", "delete", "keypool", "claude", "-n", namespace); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodPost, c.proxyURL+"/pools/e2e/claude/v1/messages", strings.NewReader(`{}`))
		req.Header.Set("x-api-key", clientToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct {
			Type  string `json:"type"`
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		// An unknown pool answers as a refused token does, so that callers
		// cannot probe which pools exist.
		if resp.StatusCode != http.StatusUnauthorized || body.Type != "error" || body.Error.Type != "authentication_error" {
			return fmt.Errorf("status %d body %+v, want 401 authentication_error", resp.StatusCode, body)
		}
		return nil
	})
}

// keyState reads a key's state from the KeyPool's status with kubectl.
func (c *cluster) keyState(pool, key string) (string, error) {
	out, err := c.kubectl.Run("", "get", "keypool", pool, "-n", namespace, "-o", "json")
	if err != nil {
		return "", err
	}
	var kp struct {
		Status struct {
			Keys []struct{ Name, State string } `json:"keys"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &kp); err != nil {
		return "", err
	}
	for _, k := range kp.Status.Keys {
		if k.Name == key {
			return k.State, nil
		}
	}
	return "", fmt.Errorf("key %s not in status of %s", key, pool)
}

func (c *cluster) fakeAdmin(t *testing.T, path string) {
	t.Helper()
	resp, err := http.Post(c.fakeURL+path, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fake provider %s: %s", path, resp.Status)
	}
}

func (c *cluster) fakeGet(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(c.fakeURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func processExited(p *testproc.Process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}
