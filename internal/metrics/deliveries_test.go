package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Deliveries added in batches read as client_golang's histogram and counter fed one event
// at a time.
func TestDeliveriesAddUpAsOneObservationAtATime(t *testing.T) {
	wantHist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Buckets: lagBuckets[:]})
	wantCount := prometheus.NewCounter(prometheus.CounterOpts{Name: "c"})
	gotHist := newLagHistogram("h", "")
	gotCount := prometheus.NewCounter(prometheus.CounterOpts{Name: "c"})

	lags := []float64{0, .0004, .0005, .0006, .003, .01, .2, .9, 1, 4, 29, 30, 31, 600}
	var d Deliveries
	for i, lag := range lags {
		timed := i%5 != 4 // some without a lag, as values are
		d.Delivered(lag, timed)
		wantCount.Inc()
		if timed {
			wantHist.Observe(lag)
		}
		if i == 6 {
			d.addTo(gotCount, gotHist) // in two batches
		}
	}
	d.addTo(gotCount, gotHist)
	d.addTo(gotCount, gotHist) // nothing more

	if got, want := read(t, gotCount).GetCounter().GetValue(), read(t, wantCount).GetCounter().GetValue(); got != want {
		t.Fatalf("counter %v, want %v", got, want)
	}
	ch := make(chan prometheus.Metric, 1)
	gotHist.Collect(ch)
	got, want := read(t, <-ch).GetHistogram(), read(t, wantHist).GetHistogram()
	if got.GetSampleCount() != want.GetSampleCount() || got.GetSampleSum() != want.GetSampleSum() {
		t.Fatalf("count %d sum %v, want %d %v", got.GetSampleCount(), got.GetSampleSum(), want.GetSampleCount(), want.GetSampleSum())
	}
	if len(got.GetBucket()) != len(want.GetBucket()) {
		t.Fatalf("%d buckets, want %d", len(got.GetBucket()), len(want.GetBucket()))
	}
	for i, b := range want.GetBucket() {
		g := got.GetBucket()[i]
		if g.GetUpperBound() != b.GetUpperBound() || g.GetCumulativeCount() != b.GetCumulativeCount() {
			t.Fatalf("bucket %d: le %v count %d, want le %v count %d", i, g.GetUpperBound(), g.GetCumulativeCount(), b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
}

func read(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return &out
}
