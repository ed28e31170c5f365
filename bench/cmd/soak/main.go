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

// Command soak is a bounded soak test of the data plane: steady load through
// the real proxy and key pools in front of the fake provider, over loopback
// HTTP, while faults are switched on and off and Secrets are rotated
// (pool.Update with a changed key value, the old value revoked at the
// provider). It accounts for every request, and checks that memory and
// goroutines stay flat. Run it with `make soak` (it is not part of
// `go test ./...`, whose time budget it would blow):
//
//	go run ./cmd/soak -duration 2m
//
// It prints a progress line every -report interval and ends with
//
//	sent=N ok=N errors=N cancelled=N lost=0 ...
//
// where errors are well-formed provider-shaped error answers, cancelled are
// streams the client abandoned on purpose, and lost is everything else (a
// transport error, a truncated or malformed body): it must be 0. The exit
// status is 1 when any check fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	cfg := config{}
	flag.DurationVar(&cfg.duration, "duration", 2*time.Minute, "How long to send load.")
	flag.DurationVar(&cfg.warmup, "warmup", 10*time.Second, "Load before the starting memory and goroutine figures are taken.")
	flag.IntVar(&cfg.rate, "rate", 100, "Requests per second, across all workers.")
	flag.IntVar(&cfg.workers, "workers", 64, "Concurrent clients.")
	flag.DurationVar(&cfg.faultEvery, "fault-every", 2*time.Second, "How often a new fault is switched on.")
	flag.DurationVar(&cfg.rotateEvery, "rotate-every", 5*time.Second, "How often a key of each pool is rotated.")
	flag.DurationVar(&cfg.report, "report", 10*time.Second, "How often a progress line is printed.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

// config are the soak's knobs.
type config struct {
	duration, warmup, faultEvery, rotateEvery, report time.Duration
	rate, workers                                     int
}

// run sets up the system, drives it and checks the result.
func run(ctx context.Context, cfg config) error {
	base := snapshot()
	sys, err := newSystem()
	if err != nil {
		return err
	}
	loadCtx, endLoad := context.WithTimeout(ctx, cfg.warmup+cfg.duration)
	defer endLoad()

	var c counters
	done := make(chan struct{})
	go func() {
		defer close(done)
		drive(loadCtx, sys, cfg, &c)
	}()
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		chaos(loadCtx, sys, cfg)
	}()

	start := time.Now()
	ticker := time.NewTicker(cfg.report)
	defer ticker.Stop()
	var warm memFigures
	warmed := time.After(cfg.warmup)
	for running := true; running; {
		select {
		case <-warmed:
			warm = snapshot()
			fmt.Printf("soak: warm-up over: heap_inuse=%s goroutines=%d\n", mib(warm.heapInuse), warm.goroutines)
		case <-ticker.C:
			m := snapshot()
			fmt.Printf("soak: t=%-4s %s heap_inuse=%s goroutines=%d faults=%d rotations=%d\n",
				time.Since(start).Round(time.Second), c.line(), mib(m.heapInuse), m.goroutines,
				sys.faultsSet.Load(), sys.rotations.Load())
		case <-done:
			running = false
		}
	}
	<-chaosDone
	sys.fake.ClearFaults()

	// At rest: every handler returned, idle connections dropped.
	sys.close()
	end := settle(base.goroutines)
	return check(sys, &c, base, warm, end)
}

// check prints the summary and returns what went wrong.
func check(sys *system, c *counters, base, warm, end memFigures) error {
	proxied := sys.proxiedRequests()
	fmt.Printf("%s proxied=%d faults=%d rotations=%d\n", c.line(), proxied, sys.faultsSet.Load(), sys.rotations.Load())
	fmt.Printf("memory: heap_inuse start=%s end=%s; goroutines before=%d start=%d end=%d\n",
		mib(warm.heapInuse), mib(end.heapInuse), base.goroutines, warm.goroutines, end.goroutines)
	for _, s := range c.samples() {
		fmt.Println("  lost:", s)
	}
	var problems []string
	sent, ok, errs, cancelled, lost := c.totals()
	if lost != 0 {
		problems = append(problems, fmt.Sprintf("%d requests lost", lost))
	}
	if sent != ok+errs+cancelled+lost {
		problems = append(problems, fmt.Sprintf("sent %d != ok+errors+cancelled+lost %d", sent, ok+errs+cancelled+lost))
	}
	if proxied != sent {
		problems = append(problems, fmt.Sprintf("the proxy counted %d requests, the clients sent %d", proxied, sent))
	}
	if ok == 0 || errs == 0 {
		problems = append(problems, "no successes or no errors: the mix did not run")
	}
	// Flat: the heap at the end, after the load, is within a margin of the
	// heap after the warm-up, and every goroutine the soak started is gone.
	if limit := warm.heapInuse + warm.heapInuse/2 + 8<<20; end.heapInuse > limit {
		problems = append(problems, fmt.Sprintf("heap grew from %s to %s", mib(warm.heapInuse), mib(end.heapInuse)))
	}
	if end.goroutines > base.goroutines {
		problems = append(problems, fmt.Sprintf("%d goroutines left, %d before", end.goroutines, base.goroutines))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%v", problems)
	}
	return nil
}

// memFigures are the process's heap and goroutine count at one moment.
type memFigures struct {
	heapInuse  uint64
	goroutines int
}

// snapshot collects garbage first, so the heap figure is what is live.
func snapshot() memFigures {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{heapInuse: ms.HeapInuse, goroutines: runtime.NumGoroutine()}
}

// settle waits, up to 10 s, for the goroutine count to come back to base
// (connections and handlers wind down asynchronously), then snapshots.
func settle(base int) memFigures {
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return snapshot()
}

func mib(b uint64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
