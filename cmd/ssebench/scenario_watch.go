package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// watch runs N pages each waiting on a Redis key of its own that a legacy writer sets with
// plain SET commands, over SSE (Watch rule "watch:*", state, public: GET
// /v1/events?topic=key:<key>), then (unless -watch-poll=false) the same N pages polling a
// legacy endpoint that GETs their key, every -poll-interval: the baseline, as a second
// result (watch-poll). Each is measured in three phases:
//
//  1. idle (-idle): Redis commands per second while nothing is written;
//  2. single writes (-writes at -write-rate), each to a key of its own: write-to-page latency;
//  3. burst: -rate writes per second for -duration, spread over the keys at random: values
//     in between may be skipped, but every page must end holding its key's last value
//     (stale pages: 0), and none may see one twice.
//
// Values carry their sequence number per key and their write time: {"s":3,"t":<unix ns>}.
var watchScenario = scenario{n: 15000, rate: 5000, duration: 10 * time.Second, apiOnly: true,
	// The private Redis tells of key changes; a Redis given with -redis must do so already.
	redisArgs: []string{"--notify-keyspace-events", "KEA"},
	config:    "Watch:\n  Keys:\n    - Pattern: \"watch:*\"\n      Kind: state\n      Public: true\n",
	measure: func(b *bench, srv *server) ([]result, error) {
		var rs []result
		r, err := b.watch(srv, false)
		if err != nil {
			return nil, err
		}
		b.logsOnErrors(srv, r)
		rs = append(rs, r)
		if !b.o.watchPoll {
			return rs, nil
		}
		legacy, err := startLegacy(b.redis)
		if err != nil {
			return nil, err
		}
		defer legacy.stop()
		r, err = b.watch(legacy, true)
		if err != nil {
			return nil, err
		}
		b.logsOnErrors(legacy, r)
		return append(rs, r), nil
	}}

// keyWriter is the legacy writer: it sets the run's keys with plain commands, and knows the
// last value it wrote to each.
type keyWriter struct {
	b      *bench
	prefix string
	seq    []int64
	pad    string
}

func (b *bench) newKeyWriter(prefix string) *keyWriter {
	kw := &keyWriter{b: b, prefix: prefix, seq: make([]int64, b.o.n)}
	if n := b.o.payload - 60; n > 0 { // values of about -payload bytes
		kw.pad = `,"pad":"` + strings.Repeat("x", n) + `"`
	}
	return kw
}

func (kw *keyWriter) key(i int) string { return fmt.Sprint(kw.prefix, i) }

// reset sets every key to a first value that carries no sequence number.
func (kw *keyWriter) reset(ctx context.Context) error {
	for from := 0; from < len(kw.seq); from += 1000 {
		pipe := kw.b.rdb.Pipeline()
		for i := from; i < min(from+1000, len(kw.seq)); i++ {
			pipe.Set(ctx, kw.key(i), `{"status":"pending"}`, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// write sets count keys, chosen by pick, at rate per second, in one pipeline per 10 ms.
func (kw *keyWriter) write(ctx context.Context, srv *server, rate float64, count int, pick func(j int) int) (int, error) {
	const tick = 10 * time.Millisecond
	start := time.Now()
	done := 0
	for done < count {
		due := min(count, int(rate*time.Since(start).Seconds())+1)
		if due > done {
			pipe := kw.b.rdb.Pipeline()
			for ; done < due; done++ {
				i := pick(done)
				kw.seq[i]++
				pipe.Set(ctx, kw.key(i), fmt.Sprintf(`{"s":%d,"t":%d,"status":"step"%s}`, kw.seq[i], time.Now().UnixNano(), kw.pad), 0)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return done, err
			}
		}
		if err := kw.b.check(srv); err != nil {
			return done, err
		}
		time.Sleep(tick)
	}
	return done, nil
}

// watch measures the pages over SSE on srv (sse-api), or polling it (poll: the legacy service).
func (b *bench) watch(srv *server, poll bool) (result, error) {
	o := b.o
	name := "watch"
	if poll {
		name = "watch-poll"
	}
	r := result{Server: srv.name, Scenario: name, Instances: len(srv.targets), Streams: o.n}
	kw := b.newKeyWriter(fmt.Sprintf("watch:%s:%s:", b.runID, name))
	if err := kw.reset(b.ctx); err != nil {
		return r, err
	}
	nw := (o.n + o.perWorker - 1) / o.perWorker
	ws, err := startWorkers(nw)
	if err != nil {
		return r, err
	}
	defer stopWorkers(ws)
	start := time.Now()
	phase := "opening"
	b.setStatus(func() string {
		s := sum(ws)
		ps, _ := readProcs(srv.pids)
		return fmt.Sprintf("[%s %s] %3.0fs pages %d/%d failed %d ended %d | values seen %d p99 %s | polls %d | server rss %s cpu %.1fs",
			name, phase, time.Since(start).Seconds(), s.Opened, o.n, s.Failed, s.Ended, s.Events,
			fmtDur(s.Lat.quantile(0.99)), s.Polls, fmtBytes(ps.RSS), ps.CPU.Seconds())
	})
	base, _ := readProcs(srv.pids)
	r.RSSBase = base.RSS

	var paths []string // stream i follows key i, its topic
	if !poll {
		for i := range o.n {
			paths = append(paths, "/v1/events?topic=key:"+kw.key(i))
		}
	}
	t0 := time.Now()
	for wi, w := range ws {
		from, to := wi*o.perWorker, min(o.n, (wi+1)*o.perWorker)
		var c workerCmd
		if poll {
			c = workerCmd{Op: "pollkeys", Targets: srv.targets, PollInterval: o.pollInterval,
				Keys: keyRange{Prefix: kw.prefix, From: from, To: to, PerAddr: o.perAddr}}
		} else {
			c = workerCmd{Op: "open", Targets: srv.targets, Paths: paths, Concurrency: o.conc}
			for i := from; i < to; i++ {
				c.Streams = append(c.Streams, streamSpec{T: i % len(srv.targets), Topic: i, Src: sourceAddr(i, o.perAddr)})
			}
		}
		if err := w.send(c); err != nil {
			return r, err
		}
	}
	t1, err := b.waitOpen(ws, o.n, srv)
	if err != nil {
		return r, err
	}
	r.ConnectSeconds = t1.Sub(t0).Seconds()
	r.ConnectPerSec = float64(sum(ws).Opened) / r.ConnectSeconds
	// Let every page get its first value, and every poller start.
	if err := b.sleep(o.pollInterval+2*time.Second, srv); err != nil {
		return r, err
	}

	// 1. Idle.
	phase = "idle"
	calls0, err := b.redisCalls()
	if err != nil {
		return r, err
	}
	c0, _ := readProcs(srv.pids)
	s0 := sum(ws)
	i0 := time.Now()
	if err := b.sleep(o.idle, srv); err != nil {
		return r, err
	}
	calls1, err := b.redisCalls()
	if err != nil {
		return r, err
	}
	el := time.Since(i0).Seconds()
	c1, _ := readProcs(srv.pids)
	s1 := sum(ws)
	r.WindowSeconds = el
	r.RSS = c1.RSS
	r.HeldAfterHold = s1.Opened - s1.Ended
	r.IdleCPUPercent = 100 * (c1.CPU - c0.CPU).Seconds() / el
	r.PollsPerSec = float64(s1.Polls-s0.Polls) / el
	r.PollErrorsPerSec = float64(s1.PollErrs-s0.PollErrs) / el
	r.RedisCmdsPerSec, r.RedisCalls = callRates(calls0, calls1, el)

	// 2. Single writes, each to a key of its own: each one is a value every page must see.
	phase = "writes"
	perm := rand.Perm(o.n)
	seen := sum(ws).Events
	n, err := kw.write(b.ctx, srv, o.writeRate, min(o.writes, o.n), func(j int) int { return perm[j] })
	if err != nil {
		return r, err
	}
	r.Writes = int64(n)
	if err := b.waitValues(ws, srv, seen+int64(n), o.pollInterval+10*time.Second); err != nil {
		return r, err
	}
	single := sum(ws).Lat
	r.WriteLat = latencyOf(single)

	// 3. The burst.
	phase = "burst"
	calls0, err = b.redisCalls()
	if err != nil {
		return r, err
	}
	ph := b.startPhase(srv, workerPids(ws), true)
	b0 := time.Now()
	count := int(o.rate * o.duration.Seconds())
	n, err = kw.write(b.ctx, srv, o.rate, count, func(int) int { return rand.IntN(o.n) })
	if err != nil {
		return r, err
	}
	bel := time.Since(b0).Seconds()
	calls1, err = b.redisCalls()
	if err != nil {
		return r, err
	}
	ph.end(&r)
	r.BurstWrites = int64(n)
	r.BurstPerSec = float64(n) / bel
	r.BurstRedisCmdsPerSec, r.BurstRedisCalls = callRates(calls0, calls1, bel)
	// Whatever is still on its way arrives (polls: at the next poll); then the pages report.
	phase = "settling"
	if err := b.settle(ws, srv, o.pollInterval+time.Second, 30*time.Second); err != nil {
		return r, err
	}
	final, err := b.finishWith(ws, workerCmd{Op: "finish", Expect: kw.seq, Values: true})
	if err != nil {
		return r, err
	}
	r.addFinal(final)
	r.Stale, r.Skipped, r.Dup = final.Stale, final.Skipped, final.Dup
	r.BurstLat = latencyOf(final.Lat.minus(single))
	b.setStatus(nil)
	return r, nil
}

// callRates are the Redis commands per second between two INFO commandstats readings, in all
// and by command, leaving out the tool's own INFO.
func callRates(before, after map[string]int64, seconds float64) (float64, map[string]float64) {
	by := map[string]float64{}
	var total int64
	for k, v := range after {
		if k == "info" {
			continue
		}
		if d := v - before[k]; d > 0 {
			total += d
			by[k] = float64(d) / seconds
		}
	}
	return float64(total) / seconds, by
}

// waitValues waits until the pages have seen want new values in all, or within bound.
func (b *bench) waitValues(ws []*workerProc, srv *server, want int64, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for sum(ws).Events < want && time.Now().Before(deadline) {
		if err := b.sleep(100*time.Millisecond, srv); err != nil {
			return err
		}
	}
	return nil
}

// settle waits at least quiet, then until the pages' count of values seen stops moving for
// a second, or bound.
func (b *bench) settle(ws []*workerProc, srv *server, quiet, bound time.Duration) error {
	start := time.Now()
	if err := b.sleep(quiet, srv); err != nil {
		return err
	}
	last, since := sum(ws).Events, time.Now()
	for time.Since(since) < time.Second && time.Since(start) < bound {
		if err := b.sleep(200*time.Millisecond, srv); err != nil {
			return err
		}
		if e := sum(ws).Events; e != last {
			last, since = e, time.Now()
		}
	}
	return nil
}
