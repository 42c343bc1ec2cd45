package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// publish floods the HTTP publish route from -pub-conns keep-alive connections; with -batch
// N, the batch route, N events per request.
var publishScenario = scenario{duration: 20 * time.Second, pubConns: 64, measure: one((*bench).publishFlood)}

// publishFlood is the publish-throughput scenario: closed-loop publishing over pubConns
// connections for the duration, no subscribers.
func (b *bench) publishFlood(srv *server) (result, error) {
	o := b.o
	r := result{Server: srv.name, Scenario: o.scenario, Instances: len(srv.targets)}
	header := b.authHeader(srv)
	topics := make([]string, o.pubConns)
	for i := range topics {
		topics[i] = fmt.Sprintf("bench:%s:p%d", b.runID, i)
	}
	pub := newPublisher(srv.kind, srv.targets, header, topics, o.payload)
	pub.batch = o.batch
	r.Batch = o.batch
	start := time.Now()
	b.setStatus(func() string {
		ps, _ := readProcs(srv.pids)
		return fmt.Sprintf("[%s publish"+batchLabel(o.batch)+"] %3.0fs published %d (%.0f/s) err %d | server cpu %.1fs",
			srv.kind, time.Since(start).Seconds(), pub.sent.Load(), float64(pub.sent.Load())/time.Since(start).Seconds(), pub.errs.Load(), ps.CPU.Seconds())
	})
	if err := b.sleep(time.Second, srv); err != nil {
		return r, err
	}
	ph := b.startPhase(srv, []int{os.Getpid()}, true)
	ctx, cancel := context.WithTimeout(b.ctx, o.duration)
	defer cancel()
	t0 := time.Now()
	pub.flood(ctx, o.pubConns)
	el := time.Since(t0)
	c1 := ph.end(&r)
	pub.report(&r, el)
	if r.Published > 0 {
		r.CPUPerPublishUS = r.CPUSeconds * 1e6 / float64(r.Published)
	}
	r.RSS = c1.RSS
	r.WindowSeconds = el.Seconds()
	b.setStatus(nil)
	return r, b.check(srv)
}

func batchLabel(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" batch %d", n)
}
