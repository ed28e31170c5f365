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
	"flag"

	"github.com/keypool-dev/keypool-operator/internal/proxy"
)

// transportFlag is --upstream-transport: setting it makes the proxy's
// upstream transport, so a wrong value fails flag parsing. Unset, the
// proxy uses its default (lean) transport.
type transportFlag struct {
	kind string
	o    *proxy.Options
}

func (f *transportFlag) String() string {
	if f == nil {
		return ""
	}
	return f.kind
}

func (f *transportFlag) Set(kind string) error {
	tr, err := proxy.NewTransport(kind, nil)
	if err != nil {
		return err
	}
	f.kind, f.o.Transport = kind, tr
	return nil
}

func bindUpstreamTransport(fs *flag.FlagSet, o *proxy.Options) {
	fs.Var(&transportFlag{kind: proxy.TransportLean, o: o}, "upstream-transport", "How the proxy talks to providers: "+
		"lean (HTTP/1.1, no goroutines per connection), net/http (Go's transport: HTTP/2 where offered), "+
		"or auto (lean for http:// upstreams, net/http for https://: less memory per held TLS stream); "+
		"an HTTP(S)_PROXY in the environment always uses net/http.")
}
