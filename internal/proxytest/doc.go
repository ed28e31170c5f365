// Package proxytest wires the data plane for tests, benchmarks and the
// measuring programs, in the spirit of net/http/httptest: a fake provider
// (internal/fakeprovider) behind a real HTTP server, a KeyPool pointing at
// it in a Registry, the handler under test behind a second server, and the
// observations every suite needs (what the upstream saw, handlers still
// running, leases in flight). Options live in Config, so a new one is added
// here once for every suite.
//
// It does not import internal/proxy: the handler comes from a HandlerFunc
// the caller passes (usually a closure over proxy.New). That keeps it usable
// from internal/proxy's own white-box tests, which would otherwise form an
// import cycle, and lets a test keep the *proxy.Server it built.
package proxytest
