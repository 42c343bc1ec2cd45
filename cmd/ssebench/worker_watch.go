package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
)

// The worker's side of the watch scenario's baseline: pages that poll the legacy service
// for their key every PollInterval, each seeing a value once a poll returns it.

// keyPage is one polling page. Its key's values carry a sequence number and their write
// time ({"s":<seq>,"t":<unix ns>}); last is the newest it has seen.
type keyPage struct {
	key     int
	url     string
	last    atomic.Int64
	skipped atomic.Int64 // values it never saw (written and overwritten between two polls)
	dup     atomic.Int64
}

// pollKeys starts a page per key of c.Keys, each polling c.Targets[0]/key/<prefix><i>.
func (w *worker) pollKeys(c workerCmd) {
	var srcs []string
	for i := c.Keys.From; i < c.Keys.To; i++ {
		if src := sourceAddr(i, c.Keys.PerAddr); len(srcs) == 0 || srcs[len(srcs)-1] != src {
			srcs = append(srcs, src)
		}
	}
	w.client = w.httpClient(srcs)
	for i := c.Keys.From; i < c.Keys.To; i++ {
		p := &keyPage{key: i, url: fmt.Sprintf("http://%s/key/%s%d", c.Targets[0], c.Keys.Prefix, i)}
		w.mu.Lock()
		w.pages = append(w.pages, p)
		w.mu.Unlock()
		w.opened.Add(1)
		go w.pollKey(p, c.PollInterval)
	}
	w.send(w.report(false, nil))
}

// pollKey polls one key every interval, from a random phase as pages opened at different
// moments do. A value newer than the last one seen records its write-to-page latency.
func (w *worker) pollKey(p *keyPage, interval time.Duration) {
	select {
	case <-time.After(time.Duration(rand.Int64N(int64(interval)))):
	case <-w.pollStop:
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		resp, err := w.client.Get(p.url)
		w.polls.Add(1)
		if err != nil {
			w.pollErrs.Add(1)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			now := time.Now().UnixNano()
			if resp.StatusCode != http.StatusOK {
				w.pollErrs.Add(1)
			} else if seq, ok := jsonInt(body, `"s":`); ok {
				switch last := p.last.Load(); {
				case seq > last:
					p.skipped.Add(seq - last - 1)
					p.last.Store(seq)
					w.events.Add(1)
					if ts, ok := jsonInt(body, `"t":`); ok {
						w.lat[p.key%latShards].record(time.Duration(now - ts))
					}
				case seq < last:
					p.dup.Add(1) // an older value after a newer one
				}
			}
		}
		select {
		case <-t.C:
		case <-w.pollStop:
			return
		}
	}
}

// valueReport adds to r, for a scenario of values (state keys), how the pages and streams
// end: stale (not holding their key's last value, expect), skipped values, duplicates.
func (w *worker) valueReport(r *workerReport, streams []*stream, pages []*keyPage, expect []int64) {
	for _, s := range streams {
		r.Skipped += s.gaps
		r.Dup += s.dup
		if s.next-1 < expect[s.topic] {
			r.Stale++
		}
	}
	for _, p := range pages {
		r.Skipped += p.skipped.Load()
		r.Dup += p.dup.Load()
		if p.last.Load() < expect[p.key] {
			r.Stale++
		}
	}
}
