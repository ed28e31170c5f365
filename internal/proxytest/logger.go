package proxytest

import (
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// Logger logs at V(1) into t's log and fails t on any line that contains
// one of secrets. Lines after t has finished are dropped.
func Logger(t testing.TB, secrets ...string) logr.Logger {
	var mu sync.Mutex
	finished := false
	t.Cleanup(func() { mu.Lock(); finished = true; mu.Unlock() })
	return funcr.New(func(prefix, args string) {
		for _, secret := range secrets {
			if strings.Contains(args, secret) {
				t.Errorf("secret in log line: %s", args)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			t.Log(prefix, args)
		}
	}, funcr.Options{Verbosity: 1})
}
