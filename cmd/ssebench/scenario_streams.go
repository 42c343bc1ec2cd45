package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// idle, fanout and topics hold streams through workers, publish, and count what arrives:
// they differ in a streamPlan.
type streamPlan struct {
	topics     int           // the streams are spread over this many topics
	hold       time.Duration // held quiet this long before memory is read
	rate       float64       // then publishes per second,
	count      int64         // this many of them
	cpuProfile bool          // -profile takes a CPU profile of the publishing
}

// measureStreams is the measure of a scenario whose plan comes from the options.
func measureStreams(plan func(o options) streamPlan) func(*bench, *server) ([]result, error) {
	return one(func(b *bench, srv *server) (result, error) { return b.streams(srv, plan(b.o)) })
}

// publishing is the plan of fanout and topics: -rate publishes per second for -duration.
func publishing(o options, topics int) streamPlan {
	return streamPlan{topics: topics, hold: 3 * time.Second, rate: o.rate, count: int64(o.rate * o.duration.Seconds()), cpuProfile: true}
}

func (b *bench) streamStatus(label string, ws []*workerProc, n int, srv *server, pub *publisher) func() string {
	start := time.Now()
	var lastEvents int64
	lastT := time.Now()
	return func() string {
		s := sum(ws)
		now := time.Now()
		rate := float64(s.Events-lastEvents) / now.Sub(lastT).Seconds()
		lastEvents, lastT = s.Events, now
		ps, _ := readProcs(srv.pids)
		line := fmt.Sprintf("[%s] %3.0fs streams %d/%d failed %d ended %d | events %d (%.0f/s) p99 %s",
			label, now.Sub(start).Seconds(), s.Opened, n, s.Failed, s.Ended, s.Events, rate, fmtDur(s.Lat.quantile(0.99)))
		if pub != nil {
			line += fmt.Sprintf(" | published %d err %d", pub.sent.Load(), pub.errs.Load())
		}
		if len(srv.pids) > 0 {
			line += fmt.Sprintf(" | server rss %s cpu %.1fs", fmtBytes(ps.RSS), ps.CPU.Seconds())
		}
		return line
	}
}

// streams runs a stream scenario against srv.
func (b *bench) streams(srv *server, plan streamPlan) (result, error) {
	o := b.o
	r := result{Server: srv.name, Scenario: o.scenario, Instances: len(srv.targets), Streams: o.n}
	label := srv.kind + " " + o.scenario

	ntopics := plan.topics
	topics := make([]string, ntopics)
	paths := make([]string, ntopics)
	for i := range topics {
		topics[i] = fmt.Sprintf("bench:%s:%d", b.runID, i)
		if srv.kind == "sse-api" {
			paths[i] = "/v1/events?topic=" + topics[i]
		} else {
			paths[i] = "/events?topic=" + topics[i]
		}
	}
	header := b.authHeader(srv)

	if err := b.sleep(time.Second, srv); err != nil {
		return r, err
	}
	base, _ := readProcs(srv.pids)
	r.RSSBase = base.RSS

	nw := (o.n + o.perWorker - 1) / o.perWorker
	ws, err := startWorkers(nw)
	if err != nil {
		return r, err
	}
	defer stopWorkers(ws)
	b.setStatus(b.streamStatus(label, ws, o.n, srv, nil))

	var openProfile sync.WaitGroup
	if o.profile != "" && srv.kind == "sse-api" {
		// The first 2 s of the opens: long enough to show the open path, short enough to
		// end before the opens do.
		file := b.profileFile("cpu-open", srv)
		openProfile.Go(func() {
			if err := srv.cpuProfile(b.ctx, 2, file); err != nil {
				fmt.Fprintln(os.Stderr, "ssebench: open cpu profile:", err)
			}
		})
	}
	t0 := time.Now()
	for wi, w := range ws {
		c := workerCmd{Op: "open", Targets: srv.targets, Header: header, Paths: paths, Concurrency: o.conc}
		for i := wi * o.perWorker; i < min(o.n, (wi+1)*o.perWorker); i++ {
			sp := streamSpec{T: i % len(srv.targets), Topic: i % ntopics, Src: sourceAddr(i, o.perAddr)}
			if srv.kind == "sse-api" && !o.sharedToken {
				if sp.Header, err = b.streamHeader(i); err != nil {
					return r, err
				}
			}
			c.Streams = append(c.Streams, sp)
		}
		if err := w.send(c); err != nil {
			return r, err
		}
	}
	t1, err := b.waitOpen(ws, o.n, srv)
	openProfile.Wait()
	if err != nil {
		return r, err
	}
	opened := sum(ws)
	r.ConnectSeconds = t1.Sub(t0).Seconds()
	r.ConnectPerSec = float64(opened.Opened) / r.ConnectSeconds

	// Hold the streams quietly, then read memory.
	c0, _ := readProcs(srv.pids)
	h0 := time.Now()
	if err := b.sleep(plan.hold, srv); err != nil {
		return r, err
	}
	held, _ := readProcs(srv.pids)
	r.RSS = held.RSS
	r.HeldAfterHold = sum(ws).Opened - sum(ws).Ended
	if r.HeldAfterHold > 0 {
		r.RSSPerStream = float64(held.RSS-base.RSS) / float64(r.HeldAfterHold)
	}
	r.IdleCPUPercent = 100 * (held.CPU - c0.CPU).Seconds() / time.Since(h0).Seconds()
	r.Runtime = srv.runtimeFigures()
	if o.profile != "" && srv.kind == "sse-api" {
		if err := srv.heapProfile(b.profileFile("heap", srv)); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench: heap profile:", err)
		}
	}

	// Publish.
	pubTargets := srv.targets
	pub := newPublisher(srv.kind, pubTargets, header, topics, o.payload)
	b.setStatus(b.streamStatus(label, ws, o.n, srv, pub))
	before := sum(ws)
	ph := b.startPhase(srv, append(workerPids(ws), os.Getpid()), plan.cpuProfile)
	p0 := time.Now()
	pubDone := make(chan struct{})
	go func() { pub.run(b.ctx, plan.rate, plan.count, o.pubConns); close(pubDone) }()
	// Wait for the publisher, then for the deliveries to settle.
	for waiting := true; waiting; {
		select {
		case <-pubDone:
			waiting = false
		case <-time.After(200 * time.Millisecond):
			if err := b.check(srv); err != nil {
				return r, err
			}
		}
	}
	pubEnd := time.Now()
	expect := pub.expect()
	var want int64
	for i := 0; i < int(opened.Opened) && i < o.n; i++ {
		want += expect[i%ntopics]
	}
	last, lastChange := sum(ws).Events, time.Now()
	for time.Since(lastChange) < 3*time.Second {
		if err := b.sleep(100*time.Millisecond, srv); err != nil {
			return r, err
		}
		e := sum(ws).Events
		if e != last {
			last, lastChange = e, time.Now()
		}
		if e-before.Events >= want {
			break
		}
	}
	ph.end(&r)
	if o.profile != "" && srv.kind == "sse-api" {
		// Against the one taken after the hold (pprof -base), its alloc_space is what
		// publishing allocated.
		if err := srv.heapProfile(b.profileFile("heap-published", srv)); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench: heap profile:", err)
		}
	}
	pub.report(&r, pubEnd.Sub(p0))
	r.Deliveries = last - before.Events
	r.ExpectedDeliveries = want
	window := lastChange.Sub(p0).Seconds()
	if window > 0 {
		r.DeliveriesPerSec = float64(r.Deliveries) / window
	}
	if r.Deliveries > 0 {
		r.CPUPerDeliveryUS = r.CPUSeconds * 1e6 / float64(r.Deliveries)
	}
	r.WindowSeconds = window

	final, err := b.finish(ws, expect)
	if err != nil {
		return r, err
	}
	r.addFinal(final)
	r.OpenRetries = final.Retries
	r.Lost, r.Dup = final.Lost, final.Dup
	r.Lat = latencyOf(final.Lat)
	b.setStatus(nil)
	return r, nil
}
