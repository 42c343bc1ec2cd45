package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
	Mean  float64 `json:"meanMs"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func latencyOf(h histSnap) latency {
	return latency{
		Count: h.total(),
		P50:   ms(h.quantile(0.50)), P90: ms(h.quantile(0.90)), P99: ms(h.quantile(0.99)),
		Max: ms(time.Duration(h.Max)), Mean: ms(h.mean()),
	}
}

// result is one server's figures in one scenario.
type result struct {
	Server    string `json:"server"`
	Scenario  string `json:"scenario"`
	Instances int    `json:"instances"`

	Streams        int     `json:"streamsRequested,omitempty"`
	HeldAfterHold  int64   `json:"streamsHeldAfterHold,omitempty"`
	Held           int64   `json:"streamsHeldAtEnd,omitempty"`
	OpenFailed     int64   `json:"streamsFailedToOpen"`
	OpenRetries    int64   `json:"openRetries"`
	Ended          int64   `json:"streamsEndedByServer"`
	ConnectSeconds float64 `json:"connectSeconds,omitempty"`
	ConnectPerSec  float64 `json:"connectPerSec,omitempty"`

	RSSBase        int64   `json:"rssBaseBytes,omitempty"`
	RSS            int64   `json:"rssBytes,omitempty"`
	RSSPerStream   float64 `json:"rssPerStreamBytes,omitempty"`
	IdleCPUPercent float64 `json:"idleCpuPercent"`

	Published          int64   `json:"published,omitempty"`
	Batch              int     `json:"batch,omitempty"` // events per publish request (publish -batch)
	PublishErrors      int64   `json:"publishErrors"`
	PublishLastError   string  `json:"publishLastError,omitempty"`
	PublishPerSec      float64 `json:"publishPerSec,omitempty"`
	PublishLat         latency `json:"publishLatency"`
	Deliveries         int64   `json:"deliveries,omitempty"`
	ExpectedDeliveries int64   `json:"expectedDeliveries,omitempty"`
	DeliveriesPerSec   float64 `json:"deliveriesPerSec,omitempty"`
	WindowSeconds      float64 `json:"windowSeconds,omitempty"`
	CPUSeconds         float64 `json:"serverCpuSeconds,omitempty"`
	CPUPerDeliveryUS   float64 `json:"cpuPerDeliveryUs,omitempty"`
	CPUPerPublishUS    float64 `json:"cpuPerPublishUs,omitempty"`
	LoadCPUSeconds     float64 `json:"loadToolCpuSeconds,omitempty"`
	RedisCPUSeconds    float64 `json:"redisCpuSeconds,omitempty"`
	Lat                latency `json:"latency"`
	Lost               int64   `json:"lost"`
	Behind             int64   `json:"lostNotArrivedByTheEnd"`
	LostMovedAgain     int64   `json:"lostByStreamsMovedAgain,omitempty"`
	MovedAgain         int64   `json:"streamsMovedAgain,omitempty"`
	Dup                int64   `json:"duplicated"`

	RedisCmdsPerSec  float64            `json:"redisCommandsPerSec,omitempty"`
	RedisCalls       map[string]float64 `json:"redisCallsPerSec,omitempty"`
	PollsPerSec      float64            `json:"pollsPerSec,omitempty"`
	PollErrorsPerSec float64            `json:"pollErrorsPerSec,omitempty"`
	Confirms         int64              `json:"confirms,omitempty"`
	ConfirmErrors    int64              `json:"confirmErrors"`
	Known            int64              `json:"browsersThatLearnt,omitempty"`
	ConfirmLat       latency            `json:"confirmToBrowser"`

	// watch: single writes and their write-to-page latency; the burst; how the pages ended
	Writes               int64              `json:"writes,omitempty"`
	WriteLat             latency            `json:"writeToPage"`
	BurstWrites          int64              `json:"burstWrites,omitempty"`
	BurstPerSec          float64            `json:"burstWritesPerSec,omitempty"`
	BurstLat             latency            `json:"burstWriteToPage"`
	BurstRedisCmdsPerSec float64            `json:"burstRedisCommandsPerSec,omitempty"`
	BurstRedisCalls      map[string]float64 `json:"burstRedisCallsPerSec,omitempty"`
	Stale                int64              `json:"stalePages"`
	Skipped              int64              `json:"valuesSkipped"`

	// deploy: A's drain (seconds after its SIGTERM), the streams' move to B
	DrainSeconds       float64            `json:"drainSeconds,omitempty"`    // A exited
	NotReadySeconds    float64            `json:"notReadySeconds,omitempty"` // A's /readyz answered 503
	EndsWithinSeconds  float64            `json:"streamsEndedWithinSeconds,omitempty"`
	Resumed            int64              `json:"resumed,omitempty"`
	FirstResumeSeconds float64            `json:"firstResumeSeconds,omitempty"`
	LastResumeSeconds  float64            `json:"lastResumeSeconds,omitempty"`
	ResumePerSec       float64            `json:"resumePerSec,omitempty"`      // over first to last resume
	PeakResumePerSec   int64              `json:"peakResumePerSec,omitempty"`  // the most in any second
	Refusals           map[string]int     `json:"refusals,omitempty"`          // resume attempts that opened no stream
	Offline            latency            `json:"withoutConnection"`           // per resumed stream
	SteadyCPUPercentA  float64            `json:"steadyCpuPercentA,omitempty"` // before the SIGTERM
	SteadyCPUPercentB  float64            `json:"steadyCpuPercentB,omitempty"`
	LoadAverage        string             `json:"loadAverage,omitempty"` // at the SIGTERM
	LoadAverageEnd     string             `json:"loadAverageEnd,omitempty"`
	EndCauses          map[string]int     `json:"endCauses,omitempty"`      // ends the load tool saw, by cause
	ServerCounts       map[string]float64 `json:"serverCounters,omitempty"` // B's sse_* counters at the end

	// Go runtime figures after the hold (summed over instances): goroutines, heap, stacks
	Runtime map[string]float64 `json:"runtimeAfterHold,omitempty"`

	Errors       map[string]int `json:"errors,omitempty"`
	EndedReasons []string       `json:"endedReasons,omitempty"`
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fus", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0fMiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
}

// row is one line of the table: how to show a result's figure, and the figure itself for
// the ratio column.
type row struct {
	name string
	show func(r result) string
	num  func(r result) float64
}

func msStr(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmtDur(time.Duration(v * 1e6))
}

func pick(rows []row, names ...string) []row {
	var out []row
	for _, n := range names {
		for _, r := range rows {
			if r.name == n {
				out = append(out, r)
			}
		}
	}
	return out
}

func rowsFor(scenario string) []row {
	common := []row{
		{"streams held", func(r result) string { return fmt.Sprintf("%d/%d", r.Held, r.Streams) }, nil},
		{"failed to open / ended by server", func(r result) string { return fmt.Sprintf("%d / %d", r.OpenFailed, r.Ended) }, nil},
		{"opens refused and retried", func(r result) string { return fmt.Sprintf("%d", r.OpenRetries) }, nil},
		{"connect rate (streams/s)", func(r result) string { return fmt.Sprintf("%.0f", r.ConnectPerSec) }, func(r result) float64 { return r.ConnectPerSec }},
		{"server RSS", func(r result) string { return fmtBytes(r.RSS) }, func(r result) float64 { return float64(r.RSS) }},
		{"RSS per stream", func(r result) string { return fmtBytes(int64(r.RSSPerStream)) }, func(r result) float64 { return r.RSSPerStream }},
	}
	delivery := []row{
		{"published (errors)", func(r result) string {
			return fmt.Sprintf("%d (%d) at %.0f/s", r.Published, r.PublishErrors, r.PublishPerSec)
		}, nil},
		{"deliveries (expected)", func(r result) string { return fmt.Sprintf("%d (%d)", r.Deliveries, r.ExpectedDeliveries) }, nil},
		{"deliveries/s", func(r result) string { return fmt.Sprintf("%.0f", r.DeliveriesPerSec) }, func(r result) float64 { return r.DeliveriesPerSec }},
		{"server CPU s", func(r result) string { return fmt.Sprintf("%.2f", r.CPUSeconds) }, func(r result) float64 { return r.CPUSeconds }},
		{"CPU per delivery", func(r result) string { return fmt.Sprintf("%.2fus", r.CPUPerDeliveryUS) }, func(r result) float64 { return r.CPUPerDeliveryUS }},
		{"load tool / Redis CPU s", func(r result) string { return fmt.Sprintf("%.2f / %.2f", r.LoadCPUSeconds, r.RedisCPUSeconds) }, nil},
		{"latency p50", func(r result) string { return msStr(r.Lat.P50) }, func(r result) float64 { return r.Lat.P50 }},
		{"latency p90", func(r result) string { return msStr(r.Lat.P90) }, func(r result) float64 { return r.Lat.P90 }},
		{"latency p99", func(r result) string { return msStr(r.Lat.P99) }, func(r result) float64 { return r.Lat.P99 }},
		{"latency max", func(r result) string { return msStr(r.Lat.Max) }, func(r result) float64 { return r.Lat.Max }},
		{"lost / duplicated", func(r result) string { return fmt.Sprintf("%d / %d", r.Lost, r.Dup) }, nil},
	}
	switch scenario {
	case "idle":
		return append(append(common,
			row{"server CPU while idle", func(r result) string { return fmt.Sprintf("%.1f%%", r.IdleCPUPercent) }, func(r result) float64 { return r.IdleCPUPercent }}),
			pick(delivery, "published (errors)", "deliveries (expected)", "latency p50", "latency p99", "latency max", "lost / duplicated")...)
	case "fanout", "topics":
		return append(common, delivery...)
	case "publish":
		return []row{
			{"published (errors)", func(r result) string { return fmt.Sprintf("%d (%d)", r.Published, r.PublishErrors) }, nil},
			{"publishes/s", func(r result) string { return fmt.Sprintf("%.0f", r.PublishPerSec) }, func(r result) float64 { return r.PublishPerSec }},
			{"server CPU per publish", func(r result) string { return fmt.Sprintf("%.1fus", r.CPUPerPublishUS) }, func(r result) float64 { return r.CPUPerPublishUS }},
			{"load tool / Redis CPU s", func(r result) string { return fmt.Sprintf("%.2f / %.2f", r.LoadCPUSeconds, r.RedisCPUSeconds) }, nil},
			{"request p50", func(r result) string { return msStr(r.PublishLat.P50) }, func(r result) float64 { return r.PublishLat.P50 }},
			{"request p99", func(r result) string { return msStr(r.PublishLat.P99) }, func(r result) float64 { return r.PublishLat.P99 }},
			{"server RSS", func(r result) string { return fmtBytes(r.RSS) }, nil},
		}
	case "qr":
		return []row{
			{"browsers waiting", func(r result) string { return fmt.Sprintf("%d/%d", r.HeldAfterHold, r.Streams) }, nil},
			{"Redis commands/s while idle", func(r result) string { return fmt.Sprintf("%.1f", r.RedisCmdsPerSec) }, func(r result) float64 { return r.RedisCmdsPerSec }},
			{"polls/s while idle (failed)", func(r result) string { return fmt.Sprintf("%.0f (%.0f)", r.PollsPerSec, r.PollErrorsPerSec) }, nil},
			{"server CPU while idle", func(r result) string { return fmt.Sprintf("%.1f%%", r.IdleCPUPercent) }, func(r result) float64 { return r.IdleCPUPercent }},
			{"server RSS", func(r result) string { return fmtBytes(r.RSS) }, func(r result) float64 { return float64(r.RSS) }},
			{"confirmed (errors) / learnt", func(r result) string { return fmt.Sprintf("%d (%d) / %d", r.Confirms, r.ConfirmErrors, r.Known) }, nil},
			{"confirm->browser p50", func(r result) string { return msStr(r.ConfirmLat.P50) }, func(r result) float64 { return r.ConfirmLat.P50 }},
			{"confirm->browser mean", func(r result) string { return msStr(r.ConfirmLat.Mean) }, func(r result) float64 { return r.ConfirmLat.Mean }},
			{"confirm->browser p99", func(r result) string { return msStr(r.ConfirmLat.P99) }, func(r result) float64 { return r.ConfirmLat.P99 }},
			{"confirm->browser max", func(r result) string { return msStr(r.ConfirmLat.Max) }, func(r result) float64 { return r.ConfirmLat.Max }},
		}
	case "deploy":
		return []row{
			{"streams opened on A (failed)", func(r result) string { return fmt.Sprintf("%d/%d (%d)", r.Held+r.Ended, r.Streams, r.OpenFailed) }, nil},
			{"A after SIGTERM: not ready", func(r result) string { return fmt.Sprintf("%.3fs", r.NotReadySeconds) }, nil},
			{"A: last stream ended", func(r result) string { return fmt.Sprintf("%.2fs", r.EndsWithinSeconds) }, nil},
			{"A: drained and exited", func(r result) string { return fmt.Sprintf("%.2fs", r.DrainSeconds) }, nil},
			{"resumed on B (not back)", func(r result) string { return fmt.Sprintf("%d (%d)", r.Resumed, r.Ended) }, nil},
			{"resumes from / to", func(r result) string { return fmt.Sprintf("%.2fs / %.2fs", r.FirstResumeSeconds, r.LastResumeSeconds) }, nil},
			{"B connect rate (streams/s): mean / peak 1 s", func(r result) string {
				return fmt.Sprintf("%.0f / %d", r.ResumePerSec, r.PeakResumePerSec)
			}, nil},
			{"refusals", func(r result) string { return fmt.Sprintf("%d", total(r.Refusals)) }, nil},
			{"without connection p50", func(r result) string { return msStr(r.Offline.P50) }, nil},
			{"without connection p99", func(r result) string { return msStr(r.Offline.P99) }, nil},
			{"without connection max", func(r result) string { return msStr(r.Offline.Max) }, nil},
			{"published (errors)", func(r result) string {
				return fmt.Sprintf("%d (%d) at %.0f/s", r.Published, r.PublishErrors, r.PublishPerSec)
			}, nil},
			{"deliveries (expected)", func(r result) string { return fmt.Sprintf("%d (%d)", r.Deliveries, r.ExpectedDeliveries) }, nil},
			{"lost (not arrived by the end) / duplicated", func(r result) string { return fmt.Sprintf("%d (%d) / %d", r.Lost, r.Behind, r.Dup) }, nil},
			{"streams B ended and that came back again (their lost)", func(r result) string {
				return fmt.Sprintf("%d (%d)", r.MovedAgain, r.LostMovedAgain)
			}, nil},
			{"latency p50 / p99 / max", func(r result) string {
				return msStr(r.Lat.P50) + " / " + msStr(r.Lat.P99) + " / " + msStr(r.Lat.Max)
			}, nil},
			{"A / B CPU before the SIGTERM", func(r result) string {
				return fmt.Sprintf("%.0f%% / %.0f%% of a core", r.SteadyCPUPercentA, r.SteadyCPUPercentB)
			}, nil},
			{"B CPU s, SIGTERM to all back", func(r result) string {
				return fmt.Sprintf("%.2f in %.2fs (%.0f%% of a core)", r.CPUSeconds, r.WindowSeconds, 100*r.CPUSeconds/max(r.WindowSeconds, 1e-9))
			}, nil},
			{"load tool / Redis CPU s", func(r result) string { return fmt.Sprintf("%.2f / %.2f", r.LoadCPUSeconds, r.RedisCPUSeconds) }, nil},
			{"load average at SIGTERM / end", func(r result) string { return r.LoadAverage + " / " + r.LoadAverageEnd }, nil},
		}
	case "watch":
		return []row{
			{"pages waiting", func(r result) string { return fmt.Sprintf("%d/%d", r.HeldAfterHold, r.Streams) }, nil},
			{"Redis commands/s while idle", func(r result) string { return fmt.Sprintf("%.1f", r.RedisCmdsPerSec) }, func(r result) float64 { return r.RedisCmdsPerSec }},
			{"polls/s while idle (failed)", func(r result) string { return fmt.Sprintf("%.0f (%.0f)", r.PollsPerSec, r.PollErrorsPerSec) }, nil},
			{"server CPU while idle", func(r result) string { return fmt.Sprintf("%.1f%%", r.IdleCPUPercent) }, func(r result) float64 { return r.IdleCPUPercent }},
			{"server RSS", func(r result) string { return fmtBytes(r.RSS) }, nil},
			{"single writes seen", func(r result) string { return fmt.Sprintf("%d of %d", r.WriteLat.Count, r.Writes) }, nil},
			{"write->page p50", func(r result) string { return msStr(r.WriteLat.P50) }, func(r result) float64 { return r.WriteLat.P50 }},
			{"write->page mean", func(r result) string { return msStr(r.WriteLat.Mean) }, func(r result) float64 { return r.WriteLat.Mean }},
			{"write->page p99", func(r result) string { return msStr(r.WriteLat.P99) }, func(r result) float64 { return r.WriteLat.P99 }},
			{"write->page max", func(r result) string { return msStr(r.WriteLat.Max) }, func(r result) float64 { return r.WriteLat.Max }},
			{"burst writes/s", func(r result) string { return fmt.Sprintf("%.0f (%d)", r.BurstPerSec, r.BurstWrites) }, nil},
			{"burst: Redis commands/s", func(r result) string { return fmt.Sprintf("%.0f", r.BurstRedisCmdsPerSec) }, func(r result) float64 { return r.BurstRedisCmdsPerSec }},
			{"burst: server / load / Redis CPU s", func(r result) string {
				return fmt.Sprintf("%.2f / %.2f / %.2f", r.CPUSeconds, r.LoadCPUSeconds, r.RedisCPUSeconds)
			}, func(r result) float64 { return r.CPUSeconds }},
			{"burst: write->page p50", func(r result) string { return msStr(r.BurstLat.P50) }, func(r result) float64 { return r.BurstLat.P50 }},
			{"burst: write->page p99", func(r result) string { return msStr(r.BurstLat.P99) }, func(r result) float64 { return r.BurstLat.P99 }},
			{"values seen in the burst / skipped", func(r result) string { return fmt.Sprintf("%d / %d", r.BurstLat.Count, r.Skipped) }, nil},
			{"stale pages at the end / duplicated", func(r result) string { return fmt.Sprintf("%d / %d", r.Stale, r.Dup) }, nil},
		}
	}
	return common
}

// printTable prints one column per result and the ratios that compare them: sse-api over
// the reference (for qr and watch, polling over SSE: how much the baseline costs more), and
// the current binary over the -before one.
func printTable(w io.Writer, o options, rs []result) {
	instances := o.instances
	if len(rs) > 0 && rs[0].Instances > 0 {
		instances = rs[0].Instances // deploy starts two
	}
	fmt.Fprintf(w, "\nscenario %s, %d instance(s), %s\n", o.scenario, instances, machineLine())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{""}
	for _, r := range rs {
		head = append(head, r.Server+" "+r.Scenario)
	}
	type pair struct{ num, den int }
	var pairs []pair
	idx := func(server string) int {
		for i, r := range rs {
			if r.Server == server {
				return i
			}
		}
		return -1
	}
	now, before, ref, gz := idx("sse-api"), idx("sse-api@before"), idx("ref"), idx("ref@go-zero")
	if now >= 0 && (before >= 0 || gz >= 0) {
		add := func(num, den int, name string) {
			if num >= 0 && den >= 0 {
				pairs = append(pairs, pair{num, den})
				head = append(head, name)
			}
		}
		add(now, ref, "sse-api / ref")
		add(now, gz, "sse-api / ref@go-zero")
		add(gz, ref, "ref@go-zero / ref")
		add(now, before, "now / before")
	} else if len(rs) == 2 {
		// sse-api over ref; qr-poll over qr
		p := pair{1, 0}
		name := "poll / sse"
		if rs[0].Server == "sse-api" && rs[1].Server == "ref" {
			p, name = pair{0, 1}, "sse-api / ref"
		} else if o.scenario != "qr" && o.scenario != "watch" {
			name = "sse-api / ref"
		}
		pairs = append(pairs, p)
		head = append(head, name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, rw := range rowsFor(o.scenario) {
		cells := []string{rw.name}
		for _, r := range rs {
			cells = append(cells, rw.show(r))
		}
		for _, p := range pairs {
			ratio := ""
			if rw.num != nil {
				a, b := rw.num(rs[p.num]), rw.num(rs[p.den])
				switch {
				case b > 0:
					ratio = fmt.Sprintf("%.2fx", a/b)
				case a > 0:
					ratio = "inf"
				}
			}
			cells = append(cells, ratio)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
	for _, r := range rs {
		if m := r.Runtime; len(m) > 0 && r.HeldAfterHold > 0 {
			per := func(k string) string { return fmtBytes(int64(m[k] / float64(r.HeldAfterHold))) }
			fmt.Fprintf(w, "%s after the hold, per stream: goroutines %.2f, heap in use %s, stacks %s (Go runtime: heap %s, stacks %s, sys %s)\n",
				r.Server, m["goroutines"]/float64(r.HeldAfterHold), per("memstats_heap_inuse_bytes"), per("memstats_stack_inuse_bytes"),
				fmtBytes(int64(m["memstats_heap_inuse_bytes"])), fmtBytes(int64(m["memstats_stack_inuse_bytes"])), fmtBytes(int64(m["memstats_sys_bytes"])))
		}
		if len(r.Errors) > 0 {
			fmt.Fprintf(w, "%s: errors:\n", r.Server)
			keys := make([]string, 0, len(r.Errors))
			for k := range r.Errors {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "  %6d  %s\n", r.Errors[k], k)
			}
		}
		if len(r.Refusals) > 0 {
			fmt.Fprintf(w, "%s: resume attempts that opened no stream:\n", r.Server)
			for _, k := range slices.Sorted(maps.Keys(r.Refusals)) {
				fmt.Fprintf(w, "  %6d  %s\n", r.Refusals[k], k)
			}
		}
		if len(r.EndCauses) > 0 {
			fmt.Fprintf(w, "%s: streams the server ended, as the load tool saw it: %v\n", r.Server, r.EndCauses)
		}
		if len(r.ServerCounts) > 0 {
			fmt.Fprintf(w, "%s: counters of the instance that stayed:\n", r.Server)
			for _, k := range slices.Sorted(maps.Keys(r.ServerCounts)) {
				fmt.Fprintf(w, "  %8.0f  %s\n", r.ServerCounts[k], k)
			}
		}
		if len(r.EndedReasons) > 0 {
			fmt.Fprintf(w, "%s: streams ended by: %s\n", r.Server, strings.Join(r.EndedReasons, "; "))
		}
		if r.PublishLastError != "" {
			fmt.Fprintf(w, "%s: last publish error: %s\n", r.Server, r.PublishLastError)
		}
		if r.Scenario == "qr" || r.Scenario == "qr-poll" || r.Scenario == "watch" || r.Scenario == "watch-poll" {
			fmt.Fprintf(w, "%s: Redis calls/s while idle: %s\n", r.Scenario, topCalls(r.RedisCalls))
		}
		if r.BurstRedisCalls != nil {
			fmt.Fprintf(w, "%s: Redis calls/s in the burst: %s\n", r.Scenario, topCalls(r.BurstRedisCalls))
		}
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func topCalls(m map[string]float64) string {
	type kv struct {
		k string
		v float64
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var parts []string
	for i, e := range l {
		if i == 8 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", e.k, e.v))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

type machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemoryGiB int    `json:"memoryGiB"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	NoFile    uint64 `json:"openFileHardLimit"`
}

func machineInfo() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		m.MemoryGiB = int((uint64(si.Totalram)*uint64(si.Unit) + 1<<29) >> 30)
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		m.Kernel = string(b)
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.NoFile = rl.Max
	}
	return m
}

func machineLine() string {
	m := machineInfo()
	return fmt.Sprintf("%s x%d, %d GiB, Linux %s, %s, nofile %d", m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go, m.NoFile)
}

func writeJSON(o options, rs []result) error {
	out := struct {
		Command  []string `json:"command"`
		Started  string   `json:"finished"`
		Machine  machine  `json:"machine"`
		Scenario string   `json:"scenario"`
		Results  []result `json:"results"`
	}{os.Args, time.Now().Format(time.RFC3339), machineInfo(), o.scenario, rs}
	raw, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(o.out, append(raw, '\n'), 0o644)
}
