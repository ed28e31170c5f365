//go:build claudecode

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

// These tests need Claude Code itself, which CI cannot install (npm is out
// of its reach), so they build only with the claudecode tag rather than
// being skipped: KEYPOOL_CLAUDE_BIN=$(which claude) go test -tags claudecode
// -run TestClaudeCode ./internal/proxy

package proxy

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// claudeCode runs Claude Code (KEYPOOL_CLAUDE_BIN, e.g. from `npm install
// @anthropic-ai/claude-code`) on a one-line prompt with env, and returns its
// answer.
func claudeCode(t *testing.T, env ...string) string {
	t.Helper()
	bin := os.Getenv("KEYPOOL_CLAUDE_BIN")
	if bin == "" {
		t.Fatal("KEYPOOL_CLAUDE_BIN is not set")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-p", "Say hello to the key pool.")
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "ANTHROPIC_AUTH_TOKEN=" + clientToken,
		"DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("claude: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestClaudeCodeBedrock: Claude Code in Bedrock mode, with the variables
// docs/clients.md gives, answered through a Bedrock pool.
func TestClaudeCodeBedrock(t *testing.T) {
	e, _ := bedrockPool(t)
	answer := claudeCode(t, "CLAUDE_CODE_USE_BEDROCK=1", "ANTHROPIC_BEDROCK_BASE_URL="+e.base,
		"CLAUDE_CODE_SKIP_BEDROCK_AUTH=1", "AWS_REGION=us-east-1")
	e.waitIdle()
	if answer == "" || e.fake.Stats().Keys["AKIAFAKE1"].OK == 0 {
		t.Fatalf("answer %q; fake saw %+v", answer, e.fake.Stats().Keys)
	}
	t.Logf("Claude Code answered: %.80s", answer)
}

// TestClaudeCodeVertex: Claude Code in Vertex mode, with the variables
// docs/clients.md gives, answered through a Vertex pool.
func TestClaudeCodeVertex(t *testing.T) {
	e := vertexPool(t)
	answer := claudeCode(t, "CLAUDE_CODE_USE_VERTEX=1", "ANTHROPIC_VERTEX_BASE_URL="+e.base+"/v1",
		"CLAUDE_CODE_SKIP_VERTEX_AUTH=1", "ANTHROPIC_VERTEX_PROJECT_ID=my-laptop-project", "CLOUD_ML_REGION=us-east5")
	e.waitIdle()
	if answer == "" || e.fake.Stats().Keys[vertexAccounts[0].email].OK == 0 {
		t.Fatalf("answer %q; fake saw %+v", answer, e.fake.Stats().Keys)
	}
	t.Logf("Claude Code answered: %.80s", answer)
}
