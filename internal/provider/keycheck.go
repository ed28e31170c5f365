package provider

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// errorFields are the fields of an error body that say whose fault it is:
// Anthropic's error.type and OpenAI's error.code.
type errorFields struct {
	Error struct {
		Type string `json:"type"`
		Code string `json:"code"`
	} `json:"error"`
}

// parseErrorFields reads an error body; a body that is not JSON gives empty
// fields, which blame nothing.
func parseErrorFields(body []byte) errorFields {
	var f errorFields
	_ = json.Unmarshal(body, &f)
	return f
}

// checkRequest is a GET of path?query below upstream's base path, without
// a key.
func checkRequest(upstream *url.URL, path, query string) *http.Request {
	u := *upstream
	u.Path = strings.TrimSuffix(upstream.Path, "/") + path
	u.RawPath, u.RawQuery, u.Fragment, u.RawFragment = "", query, "", ""
	return &http.Request{
		Method: http.MethodGet, URL: &u, Host: u.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"User-Agent": {"keypool-operator key check"}},
	}
}

// isRead reports methods that change nothing upstream.
func isRead(method string) bool { return method == http.MethodGet || method == http.MethodHead }
