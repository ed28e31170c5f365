package keypool

// tier is the keys of one priority.
type tier struct {
	priority int
	keys     []*keyMetadata // configuration order
	slots    []*slot
	sel      KeySelector

	// exhausted caches a failed search: no key of the tier can take a
	// request with est or more input tokens before until. It is kept exact
	// enough by lowering until whenever a slot's capacity changes, and
	// dropped whenever a key becomes usable again.
	exhausted struct {
		valid bool
		until int64
		est   int64
	}
}

// skip reports whether the cache says the tier cannot serve a.
func (t *tier) skip(a *attempt) bool {
	e := &t.exhausted
	return e.valid && a.est >= e.est && a.nowNs < e.until
}
