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
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strconv"
)

// The input-token estimate Acquire reserves before a request is sent;
// Settle replaces it with the provider's count. It must not exceed what the
// request can really cost, or one large request drives a key into debt with
// its limiter for minutes and every other request waits for nothing. So it
// counts what the provider counts, by the rules the providers document:
//
//   - text (every JSON string that is not an image or document): one token
//     per four ASCII bytes, one per non-ASCII character (CJK text is about
//     one token per character; the rule errs high for accented Latin);
//   - Anthropic images: width*height/750, at most anthropicImageMax (the
//     cap applies after Anthropic's own downscaling), anthropicImageMax when
//     the size cannot be read from the first bytes (PNG and GIF can);
//   - OpenAI images: 85 with detail "low", else 85 + 170 per 512-px tile
//     after scaling into 2048x2048 and the short side down to 768
//     (openAIImageMax, 8 tiles, when the size is unknown);
//   - Gemini images: 258 when both sides are at most 384 px, else 258 per
//     768x768 tile (geminiImageUnknown, four tiles, when the size is unknown);
//   - PDFs: pdfTokensPerPage per estimated page (pdfBytesPerPage of file per
//     page, at least one page);
//   - other base64 media (audio): one token per mediaBytesPerToken bytes;
//
// and caps the sum at the model's context window, which no request can
// exceed. Bodies that are not JSON (multipart uploads) fall back to four
// bytes per token under the same cap.
const (
	quartersPerToken   = 4
	anthropicImageMax  = 1600
	openAIImageLow     = 85
	openAIImageMax     = 85 + 170*8
	geminiImageTile    = 258
	geminiImageUnknown = geminiImageTile * 4 // a 1536x1536 image
	pdfTokensPerPage   = 3000
	pdfBytesPerPage    = 100 << 10
	mediaBytesPerToken = 1000
	// minMediaLen: shorter strings are text even where media could be.
	minMediaLen = 64
	// maxScanDepth bounds the per-object state kept; deeper objects are
	// still scanned, their images costed at the unknown-size maximum.
	maxScanDepth = 32
)

// contextWindow is a model family's context window in tokens, by name prefix.
type contextWindow struct {
	prefix string
	tokens int64
}

// contextWindows: the first matching prefix wins, so longer prefixes come
// first. Unknown models get the provider's estimateRules.defaultWindow, the
// smallest window in common use, so an unknown name never raises the cap.
var contextWindows = []contextWindow{
	{"claude", 200_000},
	{"gpt-4.1", 1_047_576},
	{"gpt-5", 400_000},
	{"gpt-4o", 128_000},
	{"gpt-4-turbo", 128_000},
	{"gpt-4", 8_192},
	{"gpt-3.5", 16_385},
	{"o1", 200_000},
	{"o3", 200_000},
	{"o4", 200_000},
}

// estimateRules are what one provider's estimate differs in; each provider
// file declares its own.
type estimateRules struct {
	// defaultWindow is the context window of a model not in contextWindows.
	defaultWindow int64
	// images is how the provider counts an image.
	images imageRule
}

// imageRule is a provider's documented image cost. (A rule, not a func
// value: calling through one would move the estimator to the heap.)
type imageRule uint8

const (
	imagesByArea        imageRule = iota // Anthropic: w*h/750, capped
	imagesByTiles                        // OpenAI: 85 at low detail, else per 512-px tile
	imagesByGeminiTiles                  // Gemini: 258 per 768-px tile
)

// image adds one image of w x h pixels (0 x 0: unknown) found in f.
func (e *estimator) image(w, h int64, f *scanFrame) {
	switch e.rules.images {
	case imagesByTiles:
		e.openAIImage(w, h, f)
	case imagesByGeminiTiles:
		e.media += geminiImageTokens(w, h)
	default:
		e.anthropicImage(w, h)
	}
}

// windowFor is the context window of model under rules.
func windowFor(rules *estimateRules, model []byte) int64 {
	for _, w := range contextWindows {
		if len(model) >= len(w.prefix) && string(model[:len(w.prefix)]) == w.prefix {
			return w.tokens
		}
	}
	return rules.defaultWindow
}

// keyKind is what an object key means to the estimate.
type keyKind uint8

const (
	keyOther keyKind = iota
	keyModel
	keyDetail
	keyMedia // data, url, image_url, file_data: may hold an image or a document
	// Keys whose number or literal value is a request fact (readRequest);
	// keyFact is the first of them.
	keyMaxTokens // max_tokens, max_completion_tokens, max_output_tokens, maxOutputTokens
	keyStream
	keyFact          = keyMaxTokens
	keyStreamOptions = keyStream + 1 // its value is an object
	keyGenConfig     = keyStream + 2 // Gemini's generationConfig
)

func classifyKey(k []byte) keyKind {
	if bytes.IndexByte(k, '\\') >= 0 {
		// An escaped spelling ("mod\u0065l") is the same key to a JSON
		// decoder; rare enough to unquote.
		if u, err := strconv.Unquote(`"` + string(k) + `"`); err == nil {
			k = []byte(u)
		}
	}
	switch string(k) {
	case "model":
		return keyModel
	case "detail":
		return keyDetail
	case "data", "url", "image_url", "file_data":
		return keyMedia
	case "max_tokens", "max_completion_tokens", "max_output_tokens", "maxOutputTokens":
		return keyMaxTokens
	case "stream":
		return keyStream
	case "stream_options":
		return keyStreamOptions
	case "generationConfig":
		return keyGenConfig
	}
	return keyOther
}

// scanFrame is the state of one open object or array.
type scanFrame struct {
	object bool
	key    keyKind
	low    bool  // detail "low" seen in this object
	high   int64 // OpenAI image tokens above the low-detail cost counted here
}

// estimator walks a JSON body once, without allocating.
type estimator struct {
	rules    *estimateRules
	quarters int64 // text, in quarter tokens
	media    int64 // tokens
	model    []byte
	stack    [maxScanDepth]scanFrame
	depth    int // open containers; frames beyond maxScanDepth are not kept
	facts    RequestFacts
}

// RequestModel is the model a JSON request body names in its top-level
// "model" field, found by the scan that estimates its input; "" when it
// names none (a "model" deeper in the body is the client's content).
func RequestModel(body []byte) string {
	e := estimator{rules: &anthropicEstimate} // the rules only price media
	e.scan(bytes.TrimLeft(body, " \t\r\n"))
	return modelName(e.model)
}

// modelName is a JSON string's raw bytes (without quotes) decoded; "" for
// one that does not decode.
func modelName(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	m, err := strconv.Unquote(`"` + string(raw) + `"`)
	if err != nil {
		return ""
	}
	return m
}

// estimateInputTokens is the input-token estimate for body under rules.
func estimateInputTokens(body []byte, rules *estimateRules) int64 {
	return readRequest(body, rules).InputTokens
}

// readRequest reads body's facts in the estimate's one scan; the provider
// adds what depends on the path.
func readRequest(body []byte, rules *estimateRules) RequestFacts {
	var e estimator
	e.rules = rules
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return RequestFacts{InputTokens: min(int64(len(body))/quartersPerToken, windowFor(rules, nil))}
	}
	e.scan(t)
	total := e.quarters/quartersPerToken + e.media
	e.facts.InputTokens = max(min(total, windowFor(rules, e.model)), 0)
	e.facts.bodyModel = e.model
	return e.facts
}

func (e *estimator) top() *scanFrame {
	if e.depth == 0 || e.depth > maxScanDepth {
		return nil
	}
	return &e.stack[e.depth-1]
}

func (e *estimator) push(object bool) {
	e.depth++
	if f := e.top(); f != nil {
		*f = scanFrame{object: object}
	}
}

func (e *estimator) pop() {
	if e.depth > 0 {
		e.depth--
	}
}

// inObject reports whether the innermost container is an object (deep
// containers whose frame is not kept are taken for objects).
func (e *estimator) inObject() bool {
	f := e.top()
	return (f == nil && e.depth > 0) || (f != nil && f.object)
}

func (e *estimator) scan(b []byte) {
	expectKey := false
	for i := 0; i < len(b); {
		switch b[i] {
		case '{':
			e.push(true)
			expectKey = true
			i++
		case '[':
			e.push(false)
			expectKey = false
			i++
		case '}', ']':
			e.pop()
			expectKey = false
			i++
		case ',':
			expectKey = e.inObject()
			i++
		case ':':
			expectKey = false
			i++
		case '"':
			end := stringEnd(b, i+1)
			s := b[i+1 : end]
			if expectKey {
				e.quarters += textQuarters(s)
				if f := e.top(); f != nil {
					f.key = classifyKey(s)
					if f.key == keyStreamOptions && e.depth == 1 {
						e.facts.streamOptions = true
					}
				}
			} else {
				e.value(s, end < len(b))
			}
			i = end + 1
		default:
			if c := b[i]; !expectKey && (c >= '0' && c <= '9' || c == 't') {
				if f := e.top(); f != nil && f.key >= keyFact && f.key < keyStreamOptions {
					i = e.fact(b, i, f.key)
					continue
				}
			}
			i++ // numbers, literals, whitespace
		}
	}
}

// fact reads the number or literal at b[i:], the value of a key of kind k,
// into the request's facts where it sits where the API reads it, and
// returns the index after it.
func (e *estimator) fact(b []byte, i int, k keyKind) int {
	j := i
	for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] >= 'a' && b[j] <= 'z') {
		j++
	}
	v := b[i:j]
	parent := keyOther
	if e.depth == 2 {
		parent = e.stack[0].key
	}
	switch {
	case k == keyMaxTokens && (e.depth == 1 || parent == keyGenConfig):
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && n > 0 {
			e.facts.MaxOutputTokens = n
		}
	case k == keyStream && e.depth == 1:
		e.facts.Stream = string(v) == "true"
	}
	return j
}

// stringEnd returns the index of the quote closing the string that starts
// at i, or len(b) if it is unterminated.
func stringEnd(b []byte, i int) int {
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		// The quote is escaped if an odd number of backslashes precede it.
		k := i
		for k > 0 && b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i
		}
		i++
	}
	return len(b)
}

// value accounts for one string value; closed says it ended with its
// quote (an unterminated string is no model name).
func (e *estimator) value(s []byte, closed bool) {
	f := e.top()
	key := keyOther
	if f != nil {
		key = f.key
	}
	switch {
	case key == keyModel && e.depth == 1:
		if closed {
			e.model = s
		}
		e.quarters += textQuarters(s)
	case key == keyDetail && f != nil:
		if string(s) == "low" && !f.low {
			f.low = true
			e.media -= f.high
			f.high = 0
		}
	case len(s) >= minMediaLen && (key == keyMedia || bytes.HasPrefix(s, []byte("data:"))):
		e.mediaValue(s, f)
	case key == keyMedia && bytes.HasPrefix(s, []byte("http")):
		// A file by URL: its size is unknown.
		if bytes.HasSuffix(s, []byte(".pdf")) {
			e.media += pdfTokensPerPage
		} else {
			e.image(0, 0, f)
		}
	default:
		e.quarters += textQuarters(s)
	}
}

// mediaValue accounts for a data: URL or a base64 payload.
func (e *estimator) mediaValue(s []byte, f *scanFrame) {
	payload, mime := s, []byte(nil)
	if rest, ok := bytes.CutPrefix(s, []byte("data:")); ok {
		header, data, found := bytes.Cut(rest, []byte(","))
		if !found {
			e.quarters += textQuarters(s)
			return
		}
		mime, _, _ = bytes.Cut(header, []byte(";"))
		payload = data
	}
	var head [24]byte
	n, _ := base64.StdEncoding.Decode(head[:], payload[:min(len(payload), 32)])
	decoded := int64(len(payload)) * 3 / 4
	switch {
	case bytes.Equal(mime, []byte("application/pdf")) || bytes.HasPrefix(head[:n], []byte("%PDF")):
		e.media += max(decoded/pdfBytesPerPage, 1) * pdfTokensPerPage
	case bytes.HasPrefix(mime, []byte("image/")) || isImage(head[:n]):
		w, h := imageSize(head[:n])
		e.image(w, h, f)
	case mime == nil && !isBase64(payload[:min(len(payload), 256)]):
		e.quarters += textQuarters(s) // long text under a key like "data"
	default:
		e.media += decoded / mediaBytesPerToken
	}
}

// anthropicImage adds one image as Anthropic counts it: w*h/750, capped.
func (e *estimator) anthropicImage(w, h int64) {
	t := int64(anthropicImageMax)
	if w > 0 && h > 0 {
		t = min(w*h/750+1, anthropicImageMax)
	}
	e.media += t
}

// openAIImage adds one image as OpenAI counts it: 85 at low detail, else by
// 512-px tiles. A "detail":"low" seen later in the same object takes the
// high-detail excess back (see f.high).
func (e *estimator) openAIImage(w, h int64, f *scanFrame) {
	if f != nil && f.low {
		e.media += openAIImageLow
		return
	}
	t := int64(openAIImageMax)
	if w > 0 && h > 0 {
		t = openAIImageTokens(w, h)
	}
	e.media += t
	if f != nil {
		f.high += t - openAIImageLow
	}
}

// openAIImageTokens is OpenAI's documented high-detail cost of a w x h image.
func openAIImageTokens(w, h int64) int64 {
	fw, fh := float64(w), float64(h)
	if s := 2048 / max(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	if s := 768 / min(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	tiles := ceilDiv(int64(fw+0.5), 512) * ceilDiv(int64(fh+0.5), 512)
	return openAIImageLow + 170*tiles
}

// geminiImageTokens is Gemini's documented cost of a w x h image: 258 when
// both sides are at most 384 px, else 258 per 768x768 tile;
// geminiImageUnknown when the size cannot be read.
func geminiImageTokens(w, h int64) int64 {
	switch {
	case w <= 0 || h <= 0:
		return geminiImageUnknown
	case w <= 384 && h <= 384:
		return geminiImageTile
	}
	return geminiImageTile * ceilDiv(w, 768) * ceilDiv(h, 768)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// isImage recognises the leading bytes of PNG, JPEG, GIF and WebP.
func isImage(h []byte) bool {
	return bytes.HasPrefix(h, []byte("\x89PNG")) || bytes.HasPrefix(h, []byte("\xff\xd8\xff")) ||
		bytes.HasPrefix(h, []byte("GIF8")) || len(h) >= 12 && string(h[8:12]) == "WEBP"
}

// imageSize reads the size from a PNG or GIF header; 0, 0 otherwise.
func imageSize(h []byte) (w, h2 int64) {
	switch {
	case len(h) >= 24 && bytes.HasPrefix(h, []byte("\x89PNG")):
		return int64(binary.BigEndian.Uint32(h[16:20])), int64(binary.BigEndian.Uint32(h[20:24]))
	case len(h) >= 10 && bytes.HasPrefix(h, []byte("GIF8")):
		return int64(binary.LittleEndian.Uint16(h[6:8])), int64(binary.LittleEndian.Uint16(h[8:10]))
	}
	return 0, 0
}

// isBase64 reports whether s uses only the base64 alphabet.
func isBase64(s []byte) bool {
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// textQuarters is s's token count in quarter tokens: one per ASCII byte,
// four per non-ASCII character.
func textQuarters(s []byte) int64 {
	var q int64
	for _, c := range s {
		switch {
		case c < 0x80:
			q++
		case c >= 0xC0: // the first byte of a multi-byte character
			q += quartersPerToken
		}
	}
	return q
}
