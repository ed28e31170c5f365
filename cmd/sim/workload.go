package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// bodies holds one prebuilt Anthropic Messages request body per class of
// the mix, in mix order.
type bodies [][]byte

// buildBodies renders every class once: a user message of class.input*4
// bytes of text (the fake counts bytes/4 as tokens) whose end carries the
// [[output_tokens=N]] directive.
func buildBodies() (bodies, error) {
	out := make(bodies, len(mix))
	for i, c := range mix {
		directive := fmt.Sprintf(" [[output_tokens=%d]]", c.output)
		n := int(c.input)*4 - len(directive)
		text := strings.Repeat("lorem ", n/6+1)[:n] + directive
		b, err := json.Marshal(map[string]any{
			"model":      "claude-sim",
			"max_tokens": c.output * 2,
			"stream":     c.stream,
			"messages":   []map[string]string{{"role": "user", "content": text}},
		})
		if err != nil {
			return nil, fmt.Errorf("render %s body: %w", c.name, err)
		}
		out[i] = b
	}
	return out, nil
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
