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
		out[i] = []byte(apitest.BodyWithMax(provider.Anthropic, text, c.stream, c.output*2))
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
