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

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// Two client tokens of the object pools: team-a makes objects, team-b
// tries to reach them.
const (
	teamAToken = "e2e-objects-team-a-canary-7d2e"
	teamBToken = "e2e-objects-team-b-canary-91fa"
)

// objectManifests: an Anthropic and an OpenAI pool whose two keys belong to
// two organisations at the fake provider.
const objectManifests = `
apiVersion: v1
kind: Secret
metadata: {name: obj-keys, namespace: e2e, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {one: e2e-obj-1, two: e2e-obj-2}
---
apiVersion: v1
kind: Secret
metadata: {name: teams, namespace: e2e, labels: {llm.keypool.dev/secret-type: client-tokens}}
stringData: {team-a: ` + teamAToken + `, team-b: ` + teamBToken + `}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: objects, namespace: e2e}
spec:
  upstream: FAKE
  strategy: round-robin
  keys: [{secretRef: {name: obj-keys}}]
  clientAuth: {secretRef: {name: teams}}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: objects-oai, namespace: e2e}
spec:
  provider: openai
  upstream: FAKE
  strategy: round-robin
  keys: [{secretRef: {name: obj-keys}}]
  clientAuth: {secretRef: {name: teams}}
`

// replica is one manager process with its proxy's address and arguments.
type replica struct {
	proc  *testproc.Process
	proxy string
	args  []string
}

// TestObjectsEndToEnd: through two real manager replicas that share an
// object ID secret, with a restart of the first between creation and use,
// the official SDKs make 50 Anthropic objects (files and message batches)
// and OpenAI files, batches and chained Responses on a pool whose keys are in
// two organisations. Every follow-up reaches the key that made its object
// (a request sent to the other organisation would be the provider's 404),
// another client's read, cancel and delete are refused, and lists are
// refused rather than show every client's objects.
func TestObjectsEndToEnd(t *testing.T) {
	ctx := context.Background()
	cp := startControlPlane(t)
	managerBin, fakeBin, kubeconfig, kubectl := cp.managerBin, cp.fakeBin, cp.kubeconfig, cp.kubectl
	if _, err := kubectl.Run("", "create", "namespace", namespace); err != nil {
		t.Fatal(err)
	}

	fakeAddr, _ := testproc.FreeAddr()
	fake, err := testproc.Start("fakeprovider", nil, fakeBin, "-addr", fakeAddr,
		"-keys", "e2e-obj-1=org-obj1,e2e-obj-2=org-obj2", "-limits", "org-obj1=rpm:10000,org-obj2=rpm:10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Stop(5 * time.Second) })
	if err := fake.WaitFor("fakeprovider listening", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	fakeURL := "http://" + fakeAddr

	// The install mounts this from the Secret keypool-object-ids; both
	// replicas read the same.
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(strings.Repeat("0123456789abcdef", 3)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	replicas := make([]*replica, 2)
	for i := range replicas {
		proxyAddr, _ := testproc.FreeAddr()
		probeAddr, _ := testproc.FreeAddr()
		r := &replica{proxy: "http://" + proxyAddr, args: []string{"--proxy-bind-address=" + proxyAddr,
			"--health-probe-bind-address=" + probeAddr, "--metrics-bind-address=0", "--status-interval=1s",
			"--leader-elect", "--leader-election-namespace=" + namespace, "--shutdown-grace=2s",
			"--allowed-upstreams=" + fakeURL, "--object-id-secret-file=" + secretFile}}
		startReplica(t, r, managerBin, kubeconfig)
		replicas[i] = r
	}
	if _, err := kubectl.Run(strings.ReplaceAll(objectManifests, "FAKE", fakeURL), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"objects", "objects-oai"} {
		if _, err := kubectl.Run("", "wait", "-n", namespace, "--for=condition=Ready", "keypool/"+name, "--timeout=60s"); err != nil {
			t.Fatal(err)
		}
	}

	first, second := replicas[0], replicas[1]
	files, batches := makeAnthropicObjects(t, anthropicAt(first.proxy, teamAToken))
	chains := makeResponses(t, openAIAt(first.proxy, teamAToken))

	// A restart of the first replica: what it handed out still opens, on
	// it and on the second.
	first.proc.Stop(15 * time.Second)
	startReplica(t, first, managerBin, kubeconfig)
	restarted := anthropicAt(first.proxy, teamAToken)
	eventually(t, 60*time.Second, func() error {
		_, err := restarted.Models.List(ctx, anthropic.ModelListParams{})
		return err
	})

	notFound := 0
	for i := range files {
		at := replicas[i%2].proxy
		a, b := anthropicAt(at, teamAToken), anthropicAt(at, teamBToken)
		_, err := b.Beta.Files.GetMetadata(ctx, files[i], anthropic.BetaFileGetMetadataParams{})
		wantAnthropic404(t, err, "team-b reads team-a's file")
		_, err = b.Messages.Batches.Cancel(ctx, batches[i], anthropic.MessageBatchCancelParams{})
		wantAnthropic404(t, err, "team-b cancels team-a's batch")
		_, err = b.Messages.Batches.Delete(ctx, batches[i], anthropic.MessageBatchDeleteParams{})
		wantAnthropic404(t, err, "team-b deletes team-a's batch")

		if _, err := a.Beta.Files.GetMetadata(ctx, files[i], anthropic.BetaFileGetMetadataParams{}); err != nil {
			notFound++
			t.Errorf("file %d: %v", i, err)
		}
		results := a.Messages.Batches.ResultsStreaming(ctx, batches[i], anthropic.MessageBatchResultsParams{})
		n := 0
		for results.Next() {
			n++
		}
		if err := results.Err(); err != nil || n != 1 {
			notFound++
			t.Errorf("batch %d results: %d, %v", i, n, err)
		}
		if _, err := a.Messages.Batches.Delete(ctx, batches[i], anthropic.MessageBatchDeleteParams{}); err != nil {
			t.Errorf("delete batch %d: %v", i, err)
		}
		if _, err := a.Beta.Files.Delete(ctx, files[i], anthropic.BetaFileDeleteParams{}); err != nil {
			t.Errorf("delete file %d: %v", i, err)
		}
	}
	for i, id := range chains {
		at := replicas[(i+1)%2].proxy
		a, b := openAIAt(at, teamAToken), openAIAt(at, teamBToken)
		next, err := a.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-test",
			PreviousResponseID: openai.String(id), Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("go on")}})
		if err != nil || next.PreviousResponseID != id {
			notFound++
			t.Errorf("follow-up of response %d: %v", i, err)
		}
		_, err = b.Responses.Get(ctx, id, responses.ResponseGetParams{})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
			t.Errorf("team-b reads team-a's response: want 404, got %v", err)
		}
	}
	t.Logf("%d objects made; %d follow-ups of their creator failed", len(files)+len(batches)+len(chains), notFound)

	// A list would show every client's objects of a key: refused.
	lister := anthropicAt(second.proxy, teamAToken)
	_, err = lister.Beta.Files.List(ctx, anthropic.BetaFileListParams{})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Errorf("listing files: want 400, got %v", err)
	}
	for _, r := range replicas {
		for _, token := range []string{teamAToken, teamBToken, "e2e-obj-1", "e2e-obj-2"} {
			if strings.Contains(r.proc.Output(), token) {
				t.Errorf("manager logs contain the secret value %q", token)
			}
		}
	}
}

// startReplica starts (or restarts) a manager process and waits until its
// proxy listens.
func startReplica(t *testing.T, r *replica, bin, kubeconfig string) {
	t.Helper()
	p, err := testproc.Start("manager", []string{"KUBECONFIG=" + kubeconfig}, bin, r.args...)
	if err != nil {
		t.Fatal(err)
	}
	r.proc = p
	t.Cleanup(func() {
		p.Stop(15 * time.Second)
		if t.Failed() {
			t.Logf("manager output:\n%s", p.Output())
		}
	})
	if err := p.WaitFor("proxy listening", 60*time.Second); err != nil {
		t.Fatal(err)
	}
}

func anthropicAt(proxy, token string) anthropic.Client {
	return anthropic.NewClient(anthropicoption.WithBaseURL(proxy+"/pools/e2e/objects/"),
		anthropicoption.WithAPIKey(token), anthropicoption.WithMaxRetries(0))
}

func openAIAt(proxy, token string) openai.Client {
	return openai.NewClient(openaioption.WithBaseURL(proxy+"/pools/e2e/objects-oai/v1/"),
		openaioption.WithAPIKey(token), openaioption.WithMaxRetries(0))
}

func wantAnthropic404(t *testing.T, err error, what string) {
	t.Helper()
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Type() != "not_found_error" {
		t.Errorf("%s: want the API's 404 not_found_error, got %v", what, err)
	}
}

// makeAnthropicObjects uploads 25 files and makes 25 message batches as
// team-a, and checks they went to both keys.
func makeAnthropicObjects(t *testing.T, a anthropic.Client) (files, batches []string) {
	t.Helper()
	keys := map[string]int{}
	for i := range 25 {
		var resp *http.Response
		f, err := a.Beta.Files.Upload(context.Background(), anthropic.BetaFileUploadParams{
			File: anthropic.File(strings.NewReader(fmt.Sprintf("file %d", i)), "notes.txt", "text/plain")},
			anthropicoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		keys[resp.Header.Get("X-Keypool-Key")]++
		b, err := a.Messages.Batches.New(context.Background(), anthropic.MessageBatchNewParams{
			Requests: []anthropic.MessageBatchNewParamsRequest{{CustomID: "r", Params: anthropic.MessageBatchNewParamsRequestParams{
				Model: "claude-test", MaxTokens: 64,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}}}}},
			anthropicoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		keys[resp.Header.Get("X-Keypool-Key")]++
		files, batches = append(files, f.ID), append(batches, b.ID)
	}
	if len(keys) != 2 {
		t.Fatalf("objects were made on keys %v, want both", keys)
	}
	return files, batches
}

// makeResponses makes 10 stored responses as team-a.
func makeResponses(t *testing.T, c openai.Client) []string {
	t.Helper()
	var ids []string
	for i := range 10 {
		r, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-test",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(fmt.Sprintf("hello %d", i))}})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}
