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

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// Shares of the request mix.
const (
	streamShare = 0.5  // of all requests
	cancelShare = 0.05 // of streams: the client goes away after the first event
	// requestTimeout bounds one request; a request that needs longer is lost.
	requestTimeout = 30 * time.Second
)

// counters account for every request a worker sent.
type counters struct {
	sent, ok, errors, cancelled, lost atomic.Int64

	mu       sync.Mutex
	byStatus map[int]int64
	lostLog  []string
}

func (c *counters) totals() (sent, ok, errs, cancelled, lost int64) {
	return c.sent.Load(), c.ok.Load(), c.errors.Load(), c.cancelled.Load(), c.lost.Load()
}

// line is the summary line: sent=N ok=N errors=N cancelled=N lost=N, then
// the error answers by status.
func (c *counters) line() string {
	sent, ok, errs, cancelled, lost := c.totals()
	c.mu.Lock()
	codes := make([]int, 0, len(c.byStatus))
	for code := range c.byStatus {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	var by strings.Builder
	for _, code := range codes {
		fmt.Fprintf(&by, " %d:%d", code, c.byStatus[code])
	}
	c.mu.Unlock()
	return fmt.Sprintf("sent=%d ok=%d errors=%d lost=%d cancelled=%d errors_by_status=[%s]",
		sent, ok, errs, lost, cancelled, strings.TrimSpace(by.String()))
}

func (c *counters) errorStatus(code int) {
	c.errors.Add(1)
	c.mu.Lock()
	if c.byStatus == nil {
		c.byStatus = map[int]int64{}
	}
	c.byStatus[code]++
	c.mu.Unlock()
}

func (c *counters) lose(format string, args ...any) {
	c.lost.Add(1)
	c.mu.Lock()
	if len(c.lostLog) < 20 {
		c.lostLog = append(c.lostLog, fmt.Sprintf(format, args...))
	}
	c.mu.Unlock()
}

func (c *counters) samples() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lostLog...)
}

// drive sends requests at cfg.rate from cfg.workers clients until ctx is
// done, then waits for every request in flight to finish.
func drive(ctx context.Context, s *system, cfg config, c *counters) {
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				one(s, c)
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(max(cfg.rate, 1)))
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-tick.C:
			select {
			case jobs <- struct{}{}:
			case <-ctx.Done():
				running = false
			}
		}
	}
	close(jobs)
	wg.Wait()
}

// one sends a random request and accounts for its outcome.
func one(s *system, c *counters) {
	spec := poolSpecs[rand.IntN(len(poolSpecs))]
	stream := rand.Float64() < streamShare
	abandon := stream && rand.Float64() < cancelShare
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := newRequest(ctx, s.frontURL, spec, stream)
	if err != nil {
		panic(err) // a bug in the soak itself
	}
	c.sent.Add(1)
	resp, err := s.client.Do(req)
	if err != nil {
		c.lose("%s stream=%v: no response: %v", spec.name, stream, err)
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK && abandon:
		// Read the first event, then go away with the stream open.
		if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			c.lose("%s: abandoned stream had no first line: %v", spec.name, err)
			return
		}
		cancel()
		c.cancelled.Add(1)
	case resp.StatusCode == http.StatusOK:
		if err := readSuccess(resp, spec, stream); err != nil {
			c.lose("%s stream=%v: %v", spec.name, stream, err)
			return
		}
		c.ok.Add(1)
	case resp.StatusCode >= 400:
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			c.lose("%s: %d error body: %v", spec.name, resp.StatusCode, err)
			return
		}
		if err := apitest.WellFormedError(spec.provider, resp.Header, body); err != nil {
			c.lose("%s: %d: %v: %s", spec.name, resp.StatusCode, err, body)
			return
		}
		c.errorStatus(resp.StatusCode)
	default:
		c.lose("%s: unexpected status %d", spec.name, resp.StatusCode)
	}
}

func newRequest(ctx context.Context, base string, spec poolSpec, stream bool) (*http.Request, error) {
	prompt := fmt.Sprintf("soak %d %s", rand.IntN(1_000_000), strings.Repeat("lorem ipsum ", rand.IntN(40)))
	path := "/v1/messages"
	if spec.provider == provider.OpenAI {
		path = "/v1/chat/completions"
	}
	body := apitest.BodyWithMax(spec.provider, prompt, stream, 64)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		base+"/pools/"+namespace+"/"+spec.name+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = proxytest.ClientHeader(spec.provider, clientToken)
	return req, nil
}

// readSuccess reads a 200 to its end: a complete JSON message, or a stream
// that ends with the provider's last event and then a clean EOF.
func readSuccess(resp *http.Response, spec poolSpec, stream bool) error {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("body cut off after %d bytes: %w", len(body), err)
	}
	if !stream {
		if !json.Valid(body) || !strings.Contains(string(body), `"usage"`) {
			return fmt.Errorf("not a complete message: %.200s", body)
		}
		return nil
	}
	last := "event: message_stop"
	if spec.provider == provider.OpenAI {
		last = "data: [DONE]"
	}
	if !strings.Contains(string(body), last) {
		return errors.New("stream ended without its last event")
	}
	return nil
}
