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

// Command fakeprovider runs the fake Anthropic/OpenAI/Azure OpenAI/Gemini upstream from
// internal/fakeprovider as its own process, for end-to-end tests and
// benchmarks of the proxy. It is controlled at runtime through the /_fake/
// admin endpoints on the same address.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeprovider:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	keySpec := flag.String("keys", "key1=org1",
		"API keys and their organisations: key1=orgA,key2=orgA,key3=orgB; an AWS access key (Bedrock) is id:secret[:region]=org")
	limitSpec := flag.String("limits", "",
		"per-organisation limits per minute: orgA=rpm:50/itpm:30000/otpm:8000,orgB=rpm:5/tpm:40000 (absent: unlimited); "+
			"orgA:haiku=rpm:100/otpm:20000 gives model class haiku of orgA buckets of its own")
	classSpec := flag.String("model-classes", "",
		"which models share a class's buckets: sonnet=claude-sonnet-4*|claude-3-7-sonnet,haiku=claude-haiku-* "+
			"(a model matching none is a class of its own)")
	separateModels := flag.Bool("separate-models", false,
		"give every model class without limits of its own separate buckets with its organisation's limits, "+
			"instead of sharing the organisation's")
	admitMaxTokens := flag.Bool("admit-output-on-max-tokens", true,
		"reserve an Anthropic request's max_tokens from the output bucket at the start and refund the unused part at the end, "+
			"as Anthropic documents (false: charge output after the fact; also switchable at POST /_fake/admission?max_tokens=on)")
	outputTokens := flag.Int64("output-tokens", fakeprovider.DefaultOutputTokens, "output tokens per response, capped by max_tokens")
	startEmpty := flag.Bool("start-empty", false, "start every bucket empty instead of full")
	tlsCertOut := flag.String("tls-cert-out", "",
		"serve HTTPS (HTTP/2 and HTTP/1.1) with a fresh self-signed certificate for 127.0.0.1, "+
			"written to this file for clients to trust")
	flag.Parse()

	keys, err := fakeprovider.ParseKeys(*keySpec)
	if err != nil {
		return fmt.Errorf("parse -keys: %w", err)
	}
	limits, err := fakeprovider.ParseLimits(*limitSpec)
	if err != nil {
		return fmt.Errorf("parse -limits: %w", err)
	}
	classes, err := fakeprovider.ParseModelClasses(*classSpec)
	if err != nil {
		return fmt.Errorf("parse -model-classes: %w", err)
	}
	cfg := fakeprovider.Config{Keys: keys, Limits: limits, OutputTokens: *outputTokens, StartEmpty: *startEmpty,
		ModelClasses: classes, SeparateModels: *separateModels, OutputAfterTheFact: !*admitMaxTokens}
	p := fakeprovider.New(cfg)

	// Catch signals before announcing the address, so a test that stops the
	// process right after the line still gets a graceful shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if *tlsCertOut != "" {
		tlsCfg, certPEM, err := p.TLSConfig()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*tlsCertOut, certPEM, 0o644); err != nil {
			return fmt.Errorf("write -tls-cert-out: %w", err)
		}
		srv.TLSConfig, scheme = tlsCfg, "https"
	}
	// Tests wait for this exact line; print the bound address so -addr
	// 127.0.0.1:0 works.
	fmt.Printf("fakeprovider listening on %s://%s\n", scheme, ln.Addr())

	serveErr := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "") // HTTP/2 is offered too
			return
		}
		serveErr <- srv.Serve(ln)
	}()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Held streams would otherwise keep Shutdown waiting for the full grace
	// period.
	p.ReleaseStreams()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
