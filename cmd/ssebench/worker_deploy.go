package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// The worker's side of the deploy scenario: once told where to resume (op resume), every
// stream the server ends comes back there, as an EventSource behind a load balancer does
// once its instance has left: after the retry: delay the server last sent, with the id of
// the last event it saw as Last-Event-ID. The stream keeps its sequence check, so the final
// report counts what the move lost or repeated.

// moving is the resume state of a worker.
type moving struct {
	to          atomic.Pointer[resumeTarget]
	resumed     atomic.Int64
	offline     hist // from the end the poller saw to the new connection's position
	lastEnd     atomic.Int64
	firstResume atomic.Int64
	lastResume  atomic.Int64

	mu       sync.Mutex
	refusals map[string]int  // attempts that did not open a stream, by answer
	causes   map[string]int  // ends the poller saw, by cause
	tenths   map[int64]int64 // resumes per tenth of a second (unix ns / 1e8)
}

type resumeTarget struct{ target, header string }

// resumeDeadline bounds how long one stream goes on trying to resume.
const resumeDeadline = 2 * time.Minute

func (w *worker) startResuming(c workerCmd) {
	w.move.to.Store(&resumeTarget{target: c.Targets[0], header: c.Header})
	w.send(w.report(false, nil)) // at once: the run waits for it before its SIGTERM
}

// streamEnded is the poller's onEnd: it runs on the poller's goroutine, after the stream's
// socket is closed.
func (w *worker) streamEnded(s *stream) {
	storeMax(&w.move.lastEnd, s.endedAt)
	cause, _ := s.endCause.Load().(string)
	w.move.mu.Lock()
	if w.move.causes == nil {
		w.move.causes = map[string]int{}
	}
	w.move.causes[addrRE.ReplaceAllString(cause, "<addr>")]++
	w.move.mu.Unlock()
	to := w.move.to.Load()
	if to == nil || w.closing.Load() || s.onConfirm != nil {
		return
	}
	// The poller no longer reads s: the resume owns it until it hands it back.
	lastID, retry := string(s.p.lastID), s.p.retry
	go w.resume(s, to, lastID, retry)
}

// resume reconnects s to the target. The first attempt waits the stream's last retry:
// (3 s, browsers' default, if it had none); a 200 refusal's own retry: sets the next wait,
// as in an EventSource. Other failures (a bare status, which an EventSource would not
// retry, or no connection) are counted and tried again after up to twice the last wait.
func (w *worker) resume(s *stream, to *resumeTarget, lastID string, retry int64) {
	wait := 3 * time.Second
	if retry >= 0 {
		wait = time.Duration(retry) * time.Millisecond
	}
	header := to.header
	if lastID != "" {
		header += "Last-Event-ID: " + lastID + "\r\n"
	}
	giveUp := time.Now().Add(resumeDeadline)
	for {
		time.Sleep(wait)
		if w.closing.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.connect(ctx, to.target, header)
		cancel()
		if err == nil {
			break
		}
		w.move.refused(err)
		if time.Now().After(giveUp) {
			w.fail(fmt.Errorf("resume: %w", err))
			return
		}
		var oe *openError
		if errors.As(err, &oe) && oe.refused != 0 && oe.retry >= 0 {
			wait = time.Duration(oe.retry) * time.Millisecond
		} else {
			wait = max(wait, 500*time.Millisecond)
			wait = min(wait+rand.N(wait), 10*time.Second)
		}
	}
	now := time.Now().UnixNano()
	w.move.offline.record(time.Duration(now - s.endedAt))
	w.move.resumed.Add(1)
	storeMin(&w.move.firstResume, now)
	storeMax(&w.move.lastResume, now)
	w.move.mu.Lock()
	if w.move.tenths == nil {
		w.move.tenths = map[int64]int64{}
	}
	w.move.tenths[now/1e8]++
	w.move.mu.Unlock()
	s.moves++
	s.ended.Store(false)
	if err := w.poller.add(s); err != nil {
		w.poller.end(s, err.Error())
	}
}

// refused counts an attempt that opened no stream, by its answer.
func (m *moving) refused(err error) {
	key := addrRE.ReplaceAllString(err.Error(), "<addr>")
	var oe *openError
	if errors.As(err, &oe) {
		if oe.refused != 0 {
			key = fmt.Sprintf("200 refusal (X-Refusal-Status %d, %s)", oe.refused, oe.msg)
		} else {
			key = fmt.Sprintf("%d %s", oe.status, oe.msg)
		}
	}
	if len(key) > 120 {
		key = key[:120]
	}
	m.mu.Lock()
	if m.refusals == nil {
		m.refusals = map[string]int{}
	}
	m.refusals[key]++
	m.mu.Unlock()
}

func (m *moving) report(r *workerReport) {
	r.Resuming = m.to.Load() != nil
	r.Resumed = m.resumed.Load()
	r.Offline = m.offline.snapshot()
	r.LastEnd = m.lastEnd.Load()
	r.FirstResume = m.firstResume.Load()
	r.LastResume = m.lastResume.Load()
	m.mu.Lock()
	r.Refusals = maps.Clone(m.refusals)
	r.ResumeTenths = maps.Clone(m.tenths)
	r.EndCauses = maps.Clone(m.causes)
	m.mu.Unlock()
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// storeMin is storeMax for the smallest value, 0 standing for none yet.
func storeMin(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if (old != 0 && v >= old) || a.CompareAndSwap(old, v) {
			return
		}
	}
}
