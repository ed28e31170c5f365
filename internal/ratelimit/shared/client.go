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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
)

// Modes of ClientOptions: which kind of Redis deployment the URL names.
const (
	// ModeSingle is one Redis (or Valkey) server, or a proxy in front of
	// several.
	ModeSingle = "single"
	// ModeCluster is a Redis Cluster: the URL names one or more seed nodes
	// (more with ?addr=host:port); slots and redirections (MOVED, ASK) are
	// followed.
	ModeCluster = "cluster"
	// ModeSentinel is a master watched by Sentinels: the URL names a
	// Sentinel (more with ?addr=host:port) and the master with
	// ?master_name=NAME; a failover is followed.
	ModeSentinel = "sentinel"
)

// DefaultPoolSize is the most connections per Redis node: every request in
// flight (the proxy's default cap is 512) may wait for a Reserve at once,
// and one that waits for a free connection instead spends its timeout in
// that queue; 64 more serve the background sender and the probe. They are
// opened as needed (BenchmarkSharedReserveKnee measures the load).
const DefaultPoolSize = 512 + 64

// ClientOptions says how to reach Redis.
type ClientOptions struct {
	// URL is redis://host:port or rediss://host:port (TLS), with
	// ?addr=host:port for further seed nodes or Sentinels and, in
	// ModeSentinel, ?master_name=NAME.
	URL string
	// Mode is ModeSingle (""), ModeCluster or ModeSentinel.
	Mode string
	// Password replaces any in the URL, so that it can come from a Secret
	// instead of a command line; in ModeSentinel it is the data nodes'
	// password (the Sentinels' comes from the URL, if they need one).
	Password string
	// Timeout bounds every call (0: DefaultTimeout).
	Timeout time.Duration
	// PoolSize is the connections per node (0: DefaultPoolSize).
	PoolSize int
	// CAFile is a PEM bundle of the CAs to trust for rediss:// instead of
	// the system's (a private CA).
	CAFile string
}

// NewClient connects to the single Redis at url with the default pool.
func NewClient(url, password string, timeout time.Duration) (redis.UniversalClient, error) {
	return Connect(ClientOptions{URL: url, Password: password, Timeout: timeout})
}

// Connect returns a client for the Redis deployment o names. Calls end at
// their context's deadline: the limiters' timeout is the whole budget. A
// call on a connection found broken (Redis restarted) is retried at once on
// another, twice at most, within that budget.
func Connect(o ClientOptions) (redis.UniversalClient, error) {
	u, err := universalOptions(o)
	if err != nil {
		return nil, err
	}
	if o.CAFile != "" {
		if u.TLSConfig == nil {
			return nil, errors.New("a CA bundle needs a rediss:// URL")
		}
		if u.TLSConfig.RootCAs, err = loadCAs(o.CAFile); err != nil {
			return nil, err
		}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	u.ContextTimeoutEnabled = true
	u.MaxRetries = 2
	u.MinRetryBackoff, u.MaxRetryBackoff = -1, -1
	u.DialTimeout = max(4*timeout, time.Second)
	u.DialerRetries = 1 // the limiters probe on their own, without holding a request
	u.ReadTimeout, u.WriteTimeout = timeout, timeout
	u.PoolSize = o.PoolSize
	if u.PoolSize <= 0 {
		u.PoolSize = DefaultPoolSize
	}
	switch o.Mode {
	case ModeCluster:
		return redis.NewClusterClient(u.Cluster()), nil
	case ModeSentinel:
		return redis.NewFailoverClient(u.Failover()), nil
	default:
		return redis.NewClient(u.Simple()), nil
	}
}

// universalOptions parses the URL as go-redis does for the mode, keeping
// the addresses, credentials, database and TLS; what else a URL may set
// comes from ClientOptions.
func universalOptions(o ClientOptions) (*redis.UniversalOptions, error) {
	var u redis.UniversalOptions
	var err error
	switch o.Mode {
	case "", ModeSingle:
		var s *redis.Options
		if s, err = redis.ParseURL(o.URL); err == nil {
			u = redis.UniversalOptions{Addrs: []string{s.Addr}, Username: s.Username, Password: s.Password,
				DB: s.DB, TLSConfig: s.TLSConfig}
		}
	case ModeCluster:
		var c *redis.ClusterOptions
		if c, err = redis.ParseClusterURL(o.URL); err == nil {
			u = redis.UniversalOptions{Addrs: c.Addrs, Username: c.Username, Password: c.Password,
				TLSConfig: c.TLSConfig, IsClusterMode: true}
		}
	case ModeSentinel:
		var f *redis.FailoverOptions
		if f, err = redis.ParseFailoverURL(o.URL); err == nil {
			if f.MasterName == "" {
				return nil, errors.New("a sentinel URL needs ?master_name=NAME")
			}
			u = redis.UniversalOptions{Addrs: f.SentinelAddrs, MasterName: f.MasterName,
				SentinelUsername: f.SentinelUsername, SentinelPassword: f.SentinelPassword,
				Username: f.Username, Password: f.Password, DB: f.DB, TLSConfig: f.TLSConfig}
		}
	default:
		return nil, fmt.Errorf("unknown redis mode %q (want %s, %s or %s)", o.Mode, ModeSingle, ModeCluster, ModeSentinel)
	}
	if err != nil {
		// The URL may hold a password: say what is wrong without echoing it.
		return nil, fmt.Errorf("invalid redis URL for mode %s (want redis://host:port or rediss://host:port): %w",
			modeName(o.Mode), errRedacted)
	}
	if o.Password != "" {
		u.Password = o.Password
	}
	if u.TLSConfig != nil {
		u.TLSConfig.MinVersion = tls.VersionTLS12
	}
	return &u, nil
}

func modeName(m string) string {
	if m == "" {
		return ModeSingle
	}
	return m
}

// loadCAs reads a PEM bundle of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("redis CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("redis CA bundle %s holds no PEM certificate", path)
	}
	return pool, nil
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
