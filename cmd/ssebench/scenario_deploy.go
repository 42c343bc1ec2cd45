package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// deploy measures a rolling deploy. Two sse-api instances, A and B, share the run's Redis;
// N streams open on A, spread over up to 100 topics, and -rate events per second are
// published through B. After -duration of that, A gets SIGTERM, as an orchestrator replacing
// it would send: A turns not ready, ends its streams spread over its Stream.DrainWindow, each
// with a jittered retry:, and exits. The load tool then does what a browser's EventSource
// behind a load balancer that has taken A out does: each stream comes back after the retry:
// delay it was sent, to B, with the last id it saw as Last-Event-ID (see worker_deploy.go).
// Publishing goes on until every stream is back and 3 s more; then every stream must hold
// every event of its topic once.
//
// Measured: how long A took to drain (SIGTERM to exit; to not ready; to its last stream's
// end), how fast B took the streams back, every answer that did not open a stream
// (refusals), events lost and repeated across the move, the longest time a stream was
// without a connection, and B's CPU from the SIGTERM until every stream was back.
var deployScenario = scenario{n: 10000, rate: 100, duration: 5 * time.Second, pubConns: 4, apiOnly: true,
	measure: one(func(b *bench, a *server) (result, error) { return b.deploy(a) })}

// deployTopics is how many topics the streams are spread over: enough that the events a
// stream misses while it moves are read from a topic's history, few enough that every
// topic has many streams.
const deployTopics = 100

func (b *bench) deploy(a *server) (result, error) {
	o := b.o
	r := result{Server: a.kind, Scenario: o.scenario, Instances: 2, Streams: o.n}
	if len(a.procs) != 1 || o.instances != 1 {
		return r, errors.New("deploy starts its two instances itself: leave out -url and -instances")
	}
	bsrv, err := b.startAPI(a.bin, a.name)
	if err != nil {
		return r, err
	}
	defer bsrv.stop()
	both := &server{kind: a.kind, name: a.name, pids: slices.Concat(a.pids, bsrv.pids), procs: slices.Concat(a.procs, bsrv.procs)}

	ntopics := min(deployTopics, o.n)
	topics := make([]string, ntopics)
	paths := make([]string, ntopics)
	for i := range topics {
		topics[i] = fmt.Sprintf("bench:%s:%d", b.runID, i)
		paths[i] = "/v1/events?topic=" + topics[i]
	}
	header := b.authHeader(a)

	ws, err := startWorkers((o.n + o.perWorker - 1) / o.perWorker)
	if err != nil {
		return r, err
	}
	defer stopWorkers(ws)
	m := &deployMoment{}
	b.setStatus(b.deployStatus(ws, o.n, a, bsrv, m))

	// N streams on A.
	t0 := time.Now()
	for wi, w := range ws {
		c := workerCmd{Op: "open", Targets: a.targets, Header: header, Paths: paths, Concurrency: o.conc}
		for i := wi * o.perWorker; i < min(o.n, (wi+1)*o.perWorker); i++ {
			c.Streams = append(c.Streams, streamSpec{T: 0, Topic: i % ntopics, Src: sourceAddr(i, o.perAddr)})
		}
		if err := w.send(c); err != nil {
			return r, err
		}
	}
	t1, err := b.waitOpen(ws, o.n, both)
	if err != nil {
		return r, err
	}
	opened := sum(ws)
	r.ConnectSeconds = t1.Sub(t0).Seconds()
	r.ConnectPerSec = float64(opened.Opened) / r.ConnectSeconds

	// A steady rate of events through B, for the whole move.
	pub := newPublisher(a.kind, bsrv.targets, header, topics, o.payload)
	pub.retryFailed = true
	m.pub.Store(pub)
	pctx, stopPub := context.WithCancel(b.ctx)
	defer stopPub()
	pubDone := make(chan struct{})
	p0 := time.Now()
	a0, _ := readProcs(a.pids)
	b0, _ := readProcs(bsrv.pids)
	go func() {
		pub.run(pctx, o.rate, int64(o.rate*(o.timeout.Seconds()+1)), o.pubConns)
		close(pubDone)
	}()
	if err := b.sleep(o.duration, both); err != nil {
		return r, err
	}

	// From here on the workers bring every stream A ends back on B.
	for _, w := range ws {
		if err := w.send(workerCmd{Op: "resume", Targets: bsrv.targets, Header: header}); err != nil {
			return r, err
		}
	}
	if err := waitResuming(ws); err != nil {
		return r, err
	}

	a1, _ := readProcs(a.pids)
	b1, _ := readProcs(bsrv.pids)
	steady := time.Since(p0).Seconds()
	r.SteadyCPUPercentA = 100 * (a1.CPU - a0.CPU).Seconds() / steady
	r.SteadyCPUPercentB = 100 * (b1.CPU - b0.CPU).Seconds() / steady
	r.LoadAverage = loadAverage()
	ph := b.startPhase(bsrv, append(workerPids(ws), os.Getpid()), false)
	sigterm := time.Now()
	if err := a.procs[0].Signal(syscall.SIGTERM); err != nil {
		return r, err
	}
	m.sigterm.Store(&sigterm)
	notReady := make(chan time.Duration, 1)
	go func() { notReady <- untilNotReady(a.devs[0], sigterm, a.procs[0].Done()) }()
	exited := make(chan time.Duration, 1)
	go func() { <-a.procs[0].Done(); exited <- time.Since(sigterm) }()

	var drain time.Duration
	giveUp := time.Now().Add(resumeDeadline + 30*time.Second)
	for {
		select {
		case drain = <-exited:
		default:
		}
		s := sum(ws)
		if drain > 0 && s.Resumed+(s.Failed-opened.Failed) >= opened.Opened {
			break
		}
		if err := b.check(bsrv); err != nil {
			return r, err
		}
		if time.Now().After(giveUp) {
			fmt.Fprintf(os.Stderr, "\nssebench: %d of %d streams resumed; going on with them\n", s.Resumed, opened.Opened)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	ph.end(&r)
	r.WindowSeconds = time.Since(sigterm).Seconds()
	r.DrainSeconds = drain.Seconds()
	select {
	case d := <-notReady:
		r.NotReadySeconds = d.Seconds()
	case <-time.After(time.Second):
	}

	// Publishing goes on a little after the move, then every event must have arrived.
	if err := b.sleep(3*time.Second, bsrv); err != nil {
		return r, err
	}
	stopPub()
	pub.stopped.Store(true)
	<-pubDone
	pubEnd := time.Now()
	expect := pub.expect()
	var want int64
	for i := 0; i < int(opened.Opened) && i < o.n; i++ {
		want += expect[i%ntopics]
	}
	last, lastChange := sum(ws).Events, time.Now()
	for time.Since(lastChange) < 10*time.Second && last < want {
		if err := b.sleep(100*time.Millisecond, bsrv); err != nil {
			return r, err
		}
		if e := sum(ws).Events; e != last {
			last, lastChange = e, time.Now()
		}
	}
	r.LoadAverageEnd = loadAverage()
	r.ServerCounts = bsrv.streamCounters()
	pub.report(&r, pubEnd.Sub(p0))
	r.Deliveries, r.ExpectedDeliveries = last, want

	final, err := b.finish(ws, expect)
	if err != nil {
		return r, err
	}
	r.addFinal(final)
	r.OpenRetries = final.Retries
	r.Lost, r.Dup, r.Behind = final.Lost, final.Dup, final.Behind
	r.LostMovedAgain, r.MovedAgain = final.LostMovedAgain, final.MovedAgain
	r.Lat = latencyOf(final.Lat)
	r.Resumed = final.Resumed
	r.Refusals = final.Refusals
	r.EndCauses = final.EndCauses
	r.Offline = latencyOf(final.Offline)
	at := func(ns int64) float64 { return float64(ns-sigterm.UnixNano()) / 1e9 }
	if final.LastEnd > sigterm.UnixNano() {
		r.EndsWithinSeconds = at(final.LastEnd)
	}
	if final.Resumed > 0 {
		r.FirstResumeSeconds, r.LastResumeSeconds = at(final.FirstResume), at(final.LastResume)
		if span := r.LastResumeSeconds - r.FirstResumeSeconds; span > 0 {
			r.ResumePerSec = float64(final.Resumed) / span
		}
		r.PeakResumePerSec = peakPerSecond(final.ResumeTenths)
	}
	b.setStatus(nil)
	b.logsOnErrors(bsrv, r)
	return r, nil
}

// waitResuming waits until every worker has taken its resume command.
func waitResuming(ws []*workerProc) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range ws {
		for {
			w.mu.Lock()
			ok := w.last.Resuming
			w.mu.Unlock()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("a worker did not take the resume command: %s", w.logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// untilNotReady polls an instance's /readyz until it answers anything but 200 (or nothing)
// and returns how long after since that was; at the instance's exit, how long until then.
func untilNotReady(dev string, since time.Time, exited <-chan struct{}) time.Duration {
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + dev + "/readyz")
		if err != nil {
			return time.Since(since)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return time.Since(since)
		}
		select {
		case <-exited:
			return time.Since(since)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// loadAverage is the machine's 1, 5 and 15 minute load averages.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// deployMoment is what the progress line of a deploy run knows of it so far.
type deployMoment struct {
	pub     atomic.Pointer[publisher]
	sigterm atomic.Pointer[time.Time]
}

func (b *bench) deployStatus(ws []*workerProc, n int, a, bsrv *server, m *deployMoment) func() string {
	start := time.Now()
	var lastEvents int64
	lastT := time.Now()
	return func() string {
		s := sum(ws)
		now := time.Now()
		rate := float64(s.Events-lastEvents) / now.Sub(lastT).Seconds()
		lastEvents, lastT = s.Events, now
		line := fmt.Sprintf("[deploy] %3.0fs streams %d/%d failed %d", now.Sub(start).Seconds(), s.Opened, n, s.Failed)
		if t := m.sigterm.Load(); t != nil {
			refused := 0
			for _, v := range s.Refusals {
				refused += v
			}
			line += fmt.Sprintf(" | SIGTERM +%.1fs: off %d resumed %d refused %d", now.Sub(*t).Seconds(), s.Ended, s.Resumed, refused)
		}
		line += fmt.Sprintf(" | events %d (%.0f/s)", s.Events, rate)
		if pub := m.pub.Load(); pub != nil {
			line += fmt.Sprintf(" | published %d err %d", pub.sent.Load(), pub.errs.Load())
		}
		pa, _ := readProcs(a.pids)
		pb, _ := readProcs(bsrv.pids)
		return line + fmt.Sprintf(" | cpu A %.1fs B %.1fs", pa.CPU.Seconds(), pb.CPU.Seconds())
	}
}

// peakPerSecond is the most resumes in any second (ten consecutive tenths).
func peakPerSecond(tenths map[int64]int64) int64 {
	var peak int64
	for start := range tenths {
		var n int64
		for i := start; i < start+10; i++ {
			n += tenths[i]
		}
		peak = max(peak, n)
	}
	return peak
}

// streamCounters reads the sse_* counters of the first instance's /metrics that tell why
// streams ended or were refused, and what was shed, by series.
func (s *server) streamCounters() map[string]float64 {
	out := map[string]float64{}
	if len(s.devs) == 0 {
		return out
	}
	resp, err := http.Get("http://" + s.devs[0] + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "sse_") {
			continue
		}
		for _, p := range []string{"sse_streams_ended_total", "sse_stream_refusals_total", "sse_shed_requests_total",
			"sse_slow_consumer_disconnects_total", "sse_resets_total", "sse_pubsub_recoveries_total"} {
			if strings.HasPrefix(name, p) {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f != 0 {
					out[name] = f
				}
			}
		}
	}
	return out
}
