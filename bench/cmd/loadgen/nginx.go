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
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// nginxInstall is the one command that provides the yardstick; `make
// loadtest` runs it itself where it can (root and apt).
const nginxInstall = "apt-get install -y nginx"

// nginxConf is a plain keep-alive reverse proxy, the yardstick the proxy's
// added latency is compared with: as many workers as cores (the Go proxy
// uses every core too), upstream connections kept alive and reused, no
// access log, and responses passed on as they arrive (proxy_buffering off),
// as the proxy flushes every SSE event. %[1]s is the scratch directory,
// %[2]s the listen address, %[3]s the upstream host:port, %[4]s the
// upstream's scheme and %[5]s extra upstream TLS directives.
const nginxConf = `worker_processes auto;
daemon off;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream fake {
		server %[3]s;
		keepalive 512;
		keepalive_requests 1000000;
	}
	server {
		listen %[2]s;
		keepalive_requests 1000000;
		location / {
			proxy_pass %[4]s://fake;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
%[5]s		}
	}
}
`

// startNginx runs nginx in front of upstream on a free loopback port. A
// missing nginx is not an error: it returns nil and the reason, which the
// report prints, so a machine without it still measures direct and proxy.
// caFile, when set, is the CA nginx trusts for an https upstream.
func startNginx(dir, upstream, caFile string) (*process, string, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/nginx"); statErr != nil {
			return nil, "nginx is not installed (`" + nginxInstall + "`), so it was not measured", nil
		}
		bin = "/usr/sbin/nginx"
	}
	up, err := url.Parse(upstream)
	if err != nil {
		return nil, "", fmt.Errorf("nginx upstream %q: %w", upstream, err)
	}
	addr, err := testproc.FreeAddr()
	if err != nil {
		return nil, "", fmt.Errorf("nginx port: %w", err)
	}
	var tlsConf string
	if up.Scheme == "https" {
		tlsConf = fmt.Sprintf("\t\t\tproxy_ssl_trusted_certificate %s;\n\t\t\tproxy_ssl_verify on;\n"+
			"\t\t\tproxy_ssl_name localhost;\n\t\t\tproxy_ssl_session_reuse on;\n", caFile)
	}
	scratch := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return nil, "", fmt.Errorf("nginx dir: %w", err)
	}
	conf := filepath.Join(scratch, "nginx.conf")
	body := fmt.Sprintf(nginxConf, scratch, addr, up.Host, up.Scheme, tlsConf)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return nil, "", fmt.Errorf("nginx config: %w", err)
	}
	tp, err := testproc.Start("nginx", nil, bin, "-p", scratch, "-c", conf, "-e", "stderr")
	if err != nil {
		return nil, "", err
	}
	// nginx prints nothing when it is up: it is ready when it accepts.
	ready := testproc.Poll(startTimeout, 20*time.Millisecond, func() error {
		select {
		case <-tp.Done():
			return fmt.Errorf("nginx exited: %s", strings.TrimSpace(tp.Output()))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	p := &process{Process: tp, url: "http://" + addr}
	if ready != nil {
		p.stop()
		return nil, "", fmt.Errorf("nginx did not start: %w", ready)
	}
	version, _ := exec.Command(bin, "-v").CombinedOutput()
	return p, strings.TrimSpace(string(version)), nil
}
