package qr

import (
	"testing"
	"time"
)

// SkewClock makes this instance's clock, as the QR stream's deadline timer reads it, run d
// ahead of the real one (behind for a negative d) until the test ends.
func SkewClock(t *testing.T, d time.Duration) {
	clockSkew.Store(int64(d))
	t.Cleanup(func() { clockSkew.Store(0) })
}
