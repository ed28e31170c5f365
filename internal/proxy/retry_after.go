package proxy

import (
	"strconv"
	"time"
)

// retryAfterSeconds renders d as a Retry-After value: whole seconds, rounded
// up, at least 1, so a client that waits that long finds capacity.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}
