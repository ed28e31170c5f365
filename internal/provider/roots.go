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

// defaultAPIRoots start the paths of the APIs under a version root:
// Anthropic's and OpenAI's /v1/, Gemini's /v1beta/ and /v1alpha/, and Azure
// OpenAI's /openai/.
var defaultAPIRoots = []string{"/v1/", "/v1beta/", "/v1alpha/", "/openai/"}

// APIRoots are the path prefixes of p's API, the only paths the proxy
// forwards: anything else on the upstream's host (admin pages, health
// checks) is not the pool's to expose.
func APIRoots(p Provider) []string {
	if r, ok := p.(interface{ apiRoots() []string }); ok {
		return r.apiRoots()
	}
	return defaultAPIRoots
}

// RegionalUpstream is p's official endpoint in region (a bedrock or vertex
// pool's spec.region); ok is false for a provider without regions or an
// impossible region.
func RegionalUpstream(p Provider, region string) (string, bool) {
	r, ok := p.(interface{ regionalUpstream(string) string })
	if !ok || !validRegion(region) {
		return "", false
	}
	return r.regionalUpstream(region), true
}
