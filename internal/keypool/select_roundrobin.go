package keypool

// roundRobin takes the tier's keys in configuration order, skipping keys
// that cannot take the request.
type roundRobin struct {
	t    *tier
	next int
}

// Strategy implements KeySelector.
func (*roundRobin) Strategy() Strategy { return StrategyRoundRobin }

func (r *roundRobin) pick(a *attempt) (*keyMetadata, bool) {
	keys := r.t.keys
	n := len(keys)
	for i := range n {
		idx := r.next + i
		if idx >= n {
			idx -= n
		}
		if k := keys[idx]; a.tryKey(k) {
			if r.next = idx + 1; r.next == n {
				r.next = 0
			}
			return k, true
		}
	}
	return nil, true
}

func (*roundRobin) changed(*slot, int64) {}
