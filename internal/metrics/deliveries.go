package metrics

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// lagBuckets are DeliveryLag's upper bounds: streaming latencies, milliseconds to seconds.
var lagBuckets = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Deliveries are one stream's deliveries and their lags, noted by the stream's goroutine
// alone and added to Delivered and DeliveryLag in one step (Add). An atomic add per event
// to a counter and a histogram that every core writes cost 5% of a delivery's CPU in the
// fan-out (BENCHMARKS.md); the stream adds its notes about once a second instead.
type Deliveries struct {
	n      uint64 // events written
	timed  uint64 // of which with a lag
	lagSum float64
	lags   [len(lagBuckets) + 1]uint32 // per bucket of lagBuckets, then +Inf
}

// Delivered notes one event written, and its lag in seconds unless timed is false (a
// value's id is a hash, not a time).
func (d *Deliveries) Delivered(lag float64, timed bool) {
	d.n++
	if timed {
		d.timed++
		d.lagSum += lag
		d.lags[sort.SearchFloat64s(lagBuckets[:], lag)]++
	}
}

// Add adds what was noted to the service's metrics, and starts afresh.
func (d *Deliveries) Add() { d.addTo(Delivered, DeliveryLag) }

func (d *Deliveries) addTo(c prometheus.Counter, h *lagHistogram) {
	if d.n > 0 {
		c.Add(float64(d.n))
	}
	if d.timed > 0 {
		h.add(d)
	}
	*d = Deliveries{}
}

// lagHistogram is a Prometheus histogram that takes observations in batches: client_golang's
// takes them one at a time.
type lagHistogram struct {
	desc *prometheus.Desc

	mu     sync.Mutex
	counts [len(lagBuckets) + 1]uint64
	count  uint64
	sum    float64
}

func newLagHistogram(name, help string) *lagHistogram {
	return &lagHistogram{desc: prometheus.NewDesc(name, help, nil, nil)}
}

func (h *lagHistogram) add(d *Deliveries) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, n := range d.lags {
		h.counts[i] += uint64(n)
	}
	h.count += d.timed
	h.sum += d.lagSum
}

func (h *lagHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h *lagHistogram) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	buckets := make(map[float64]uint64, len(lagBuckets))
	var cumulative uint64
	for i, le := range lagBuckets {
		cumulative += h.counts[i]
		buckets[le] = cumulative
	}
	count, sum := h.count, h.sum
	h.mu.Unlock()
	ch <- prometheus.MustNewConstHistogram(h.desc, count, sum, buckets)
}
