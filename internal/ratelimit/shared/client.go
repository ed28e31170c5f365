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

package shared

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClient connects to the Redis at url (redis:// or rediss:// for
// TLS). A non-empty password replaces any in the URL, so that it can come
// from a Secret instead of a command line. Calls end at their context's
// deadline: the limiters' timeout is the whole budget. A call on a
// connection found broken (Redis restarted) is retried at once on another,
// twice at most, within that budget.
func NewClient(url, password string, timeout time.Duration) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: say what is wrong without echoing it.
		return nil, fmt.Errorf("invalid redis URL (want redis://host:port or rediss://host:port): %w", errRedacted)
	}
	if password != "" {
		opts.Password = password
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = 2
	opts.MinRetryBackoff, opts.MaxRetryBackoff = -1, -1
	opts.DialTimeout = max(4*timeout, time.Second)
	opts.DialerRetries = 1 // the limiters probe on their own, without holding a request
	opts.ReadTimeout, opts.WriteTimeout = timeout, timeout
	return redis.NewClient(opts), nil
}

// errRedacted stands for a parse error whose text could contain a secret.
var errRedacted = errors.New("details withheld, the URL may contain a password")

// redisLogger adapts a function to go-redis's logger.
type redisLogger func(msg string)

// Printf implements go-redis's logging interface.
func (l redisLogger) Printf(_ context.Context, format string, v ...any) { l(fmt.Sprintf(format, v...)) }

// SetLogger routes go-redis's own log lines (dial failures of its
// connection pool), which otherwise go to stderr unstructured, to log. It is
// process-wide.
func SetLogger(log func(msg string)) { redis.SetLogger(redisLogger(log)) }
