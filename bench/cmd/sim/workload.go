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
	"math/rand/v2"
	"strings"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// bodies holds one prebuilt Anthropic Messages request body per class of
// the mix, in mix order.
type bodies [][]byte

// buildBodies renders every class once: a user message of class.input*4
// bytes of text (the fake counts bytes/4 as tokens) whose end carries the
// [[output_tokens=N]] directive.
func buildBodies() bodies {
	out := make(bodies, len(mix))
	for i, c := range mix {
		directive := fmt.Sprintf(" [[output_tokens=%d]]", c.output)
		n := int(c.input)*4 - len(directive)
		text := strings.Repeat("lorem ", n/6+1)[:n] + directive
		maxTokens := c.maxTokens
		if maxTokens == 0 {
			maxTokens = c.output * 2
		}
		out[i] = []byte(apitest.BodyWithMax(provider.Anthropic, text, c.stream, maxTokens))
	}
	return out
}

// pickClass draws a class index by the mix's shares.
func pickClass(r *rand.Rand) int {
	x := r.Float64()
	for i, c := range mix {
		if x < c.share {
			return i
		}
		x -= c.share
	}
	return len(mix) - 1
}
