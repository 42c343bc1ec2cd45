package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// qr runs N browsers waiting on QR-login sessions over SSE, then (unless -qr-poll=false) the
// same N polling their session instead: the baseline, as a second result (qr-poll).
var qrScenario = scenario{n: 15000, apiOnly: true, measure: func(b *bench, srv *server) ([]result, error) {
	var rs []result
	for _, poll := range []bool{false, true} {
		if poll && !b.o.qrPoll {
			break
		}
		r, err := b.qr(srv, poll)
		if err != nil {
			return nil, err
		}
		b.logsOnErrors(srv, r)
		rs = append(rs, r)
	}
	return rs, nil
}}

func warmQR(target string) error {
	for range 5 {
		resp, err := http.Post("http://"+target+"/v1/qr/sessions", "application/json", nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil
}

// redisCalls reads INFO commandstats: calls per command.
func (b *bench) redisCalls() (map[string]int64, error) {
	if b.rdb == nil {
		return nil, errors.New("no Redis address known (with -url, pass -redis)")
	}
	info, err := b.rdb.Info(b.ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				out[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return out, nil
}

// qr runs N browsers waiting on QR sessions, over SSE or (poll) by polling every second:
// Redis commands per second while nobody scans, then confirm-to-browser latency.
func (b *bench) qr(srv *server, poll bool) (result, error) {
	o := b.o
	name := "qr"
	if poll {
		name = "qr-poll"
	}
	r := result{Server: "sse-api", Scenario: name, Instances: len(srv.targets), Streams: o.n}
	nw := (o.n + o.perWorker - 1) / o.perWorker
	ws, err := startWorkers(nw)
	if err != nil {
		return r, err
	}
	defer stopWorkers(ws)
	start := time.Now()
	b.setStatus(func() string {
		s := sum(ws)
		ps, _ := readProcs(srv.pids)
		return fmt.Sprintf("[%s] %3.0fs browsers %d/%d failed %d ended %d | polls %d | confirmed %d known %d p99 %s | server rss %s cpu %.1fs",
			name, time.Since(start).Seconds(), s.Opened, o.n, s.Failed, s.Ended, s.Polls, s.Confirmed, s.Known,
			fmtDur(s.ConfirmLat.quantile(0.99)), fmtBytes(ps.RSS), ps.CPU.Seconds())
	})
	// A server that has been up a while has its Lua scripts loaded in Redis. On a fresh
	// Redis the first burst's EVALSHAs all fail with NOSCRIPT before one EVAL loads the
	// script, and go-zero's Redis breaker (the QR-create rate limiter's) counts each as a
	// failure: it opens, creations fail with 500, and go-zero's route breaker then answers
	// 503 for a while. Warm up with a few sequential creations, as traffic would.
	if err := warmQR(srv.targets[0]); err != nil {
		return r, err
	}
	base, _ := readProcs(srv.pids)
	r.RSSBase = base.RSS
	t0 := time.Now()
	for wi, w := range ws {
		c := workerCmd{Op: "qr", Targets: srv.targets, Poll: poll, PollInterval: o.pollInterval, Concurrency: o.conc}
		for i := wi * o.perWorker; i < min(o.n, (wi+1)*o.perWorker); i++ {
			c.Browsers = append(c.Browsers, qrSpec{T: i % len(srv.targets), Src: sourceAddr(i, o.perAddr)})
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
	// Let every poller start and the creations' traffic end.
	if err := b.sleep(o.pollInterval+2*time.Second, srv); err != nil {
		return r, err
	}

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
	if !poll && r.HeldAfterHold > 0 {
		r.RSSPerStream = float64(c1.RSS-base.RSS) / float64(r.HeldAfterHold)
	}
	r.IdleCPUPercent = 100 * (c1.CPU - c0.CPU).Seconds() / el
	r.PollsPerSec = float64(s1.Polls-s0.Polls) / el
	r.PollErrorsPerSec = float64(s1.PollErrs-s0.PollErrs) / el
	r.RedisCalls = map[string]float64{}
	var total int64
	for k, v := range calls1 {
		if k == "info" {
			continue // the tool's own
		}
		if d := v - calls0[k]; d > 0 {
			total += d
			r.RedisCalls[k] = float64(d) / el
		}
	}
	r.RedisCmdsPerSec = float64(total) / el

	// The phones confirm, at the given rate, spread over the workers.
	tick := 100 * time.Millisecond
	perTick := max(1, int(o.confirmRate*tick.Seconds()))
	sent := 0
	for wi := 0; sent < o.confirms; wi++ {
		k := min(perTick, o.confirms-sent)
		if err := ws[wi%len(ws)].send(workerCmd{Op: "confirm", N: k, PhoneToken: b.phone}); err != nil {
			return r, err
		}
		sent += k
		if err := b.sleep(tick, srv); err != nil {
			return r, err
		}
	}
	deadline := time.Now().Add(o.pollInterval + 10*time.Second)
	for time.Now().Before(deadline) {
		s := sum(ws)
		if s.Confirmed+s.ConfirmErrs >= int64(min(o.confirms, int(s.Opened))) && s.Known >= s.Confirmed {
			break
		}
		if err := b.sleep(100*time.Millisecond, srv); err != nil {
			return r, err
		}
	}
	final, err := b.finish(ws, nil)
	if err != nil {
		return r, err
	}
	r.addFinal(final)
	r.Confirms = final.Confirmed
	r.ConfirmErrors = final.ConfirmErrs
	r.Known = final.Known
	r.ConfirmLat = latencyOf(final.ConfirmLat)
	b.setStatus(nil)
	return r, nil
}
