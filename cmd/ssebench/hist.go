package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// hist is a log-linear latency histogram in nanoseconds: exact below 128 ns, then 64 buckets
// per power of two (about 1.5% resolution) up to about 18 minutes. Recording is one atomic
// add, so the goroutines of many streams share a few of them.
type hist struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
}

const (
	histSub     = 64
	histBuckets = 128 + 34*histSub
)

func histIndex(v int64) int {
	if v < 128 {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	s := bits.Len64(uint64(v)) - 7 // v>>s is in [64, 128)
	i := 128 + (s-1)*histSub + int(v>>s) - histSub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histUpper is the largest value that falls in bucket i.
func histUpper(i int) int64 {
	if i < 128 {
		return int64(i)
	}
	s := (i-128)/histSub + 1
	m := int64((i-128)%histSub + histSub)
	return (m+1)<<s - 1
}

func (h *hist) record(d time.Duration) {
	v := int64(d)
	h.counts[histIndex(v)].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// histSnap is a histogram as sent between processes: non-empty buckets only.
type histSnap struct {
	Counts map[int]uint64 `json:"counts,omitempty"`
	Max    int64          `json:"max"`
}

func (h *hist) snapshot() histSnap {
	s := histSnap{Counts: map[int]uint64{}, Max: h.max.Load()}
	for i := range h.counts {
		if n := h.counts[i].Load(); n > 0 {
			s.Counts[i] = n
		}
	}
	return s
}

func (s *histSnap) merge(o histSnap) {
	if s.Counts == nil {
		s.Counts = map[int]uint64{}
	}
	for i, n := range o.Counts {
		s.Counts[i] += n
	}
	s.Max = max(s.Max, o.Max)
}

// minus is s without the samples of o, an earlier snapshot of the same histogram (its
// maximum stays s's: the latest one's may be o's).
func (s histSnap) minus(o histSnap) histSnap {
	out := histSnap{Counts: map[int]uint64{}, Max: s.Max}
	for i, n := range s.Counts {
		if d := n - min(n, o.Counts[i]); d > 0 {
			out.Counts[i] = d
		}
	}
	return out
}

func (s histSnap) total() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// quantile returns the upper bound of the bucket holding quantile q (0 < q <= 1), capped
// at the exact maximum.
func (s histSnap) quantile(q float64) time.Duration {
	total := s.total()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i := 0; i < histBuckets; i++ {
		seen += s.Counts[i]
		if seen >= rank {
			return time.Duration(min(histUpper(i), s.Max))
		}
	}
	return time.Duration(s.Max)
}

// mean is approximate: each sample counts as its bucket's upper bound.
func (s histSnap) mean() time.Duration {
	var sum float64
	var n uint64
	for i, c := range s.Counts {
		sum += float64(min(histUpper(i), s.Max)) * float64(c)
		n += c
	}
	if n == 0 {
		return 0
	}
	return time.Duration(sum / float64(n))
}
