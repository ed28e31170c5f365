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
