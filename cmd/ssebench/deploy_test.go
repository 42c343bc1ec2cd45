package main

import "testing"

func TestPeakPerSecond(t *testing.T) {
	tenths := map[int64]int64{100: 5, 101: 5, 109: 1, 110: 50, 125: 7}
	if got := peakPerSecond(tenths); got != 56 { // 101..110: 5+1+50
		t.Fatalf("peak %d, want 56", got)
	}
}
