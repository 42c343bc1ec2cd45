package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/sseapi/sse-api/internal/testinstance"
)

// The run's side of the workers (worker.go is theirs): starting them, adding up their
// reports, waiting for their streams to open, and their final reports.

// workerProc is one load process.
type workerProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	enc   *json.Encoder
	logs  *testinstance.Logs // stderr
	mu    sync.Mutex
	last  workerReport
	final chan workerReport
}

func startWorkers(n int) ([]*workerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ws []*workerProc
	for i := 0; i < n; i++ {
		cmd := exec.Command(self, "worker")
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		w := &workerProc{cmd: cmd, in: in, enc: json.NewEncoder(in), logs: &testinstance.Logs{}, final: make(chan workerReport, 1)}
		cmd.Stderr = w.logs
		if err := cmd.Start(); err != nil {
			stopWorkers(ws)
			return nil, err
		}
		go func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			for sc.Scan() {
				var r workerReport
				if json.Unmarshal(sc.Bytes(), &r) != nil {
					continue
				}
				w.mu.Lock()
				w.last = r
				w.mu.Unlock()
				if r.Final {
					w.final <- r
				}
			}
			close(w.final)
		}()
		ws = append(ws, w)
	}
	return ws, nil
}

func (w *workerProc) send(c workerCmd) error { return w.enc.Encode(c) }

func workerPids(ws []*workerProc) []int {
	var pids []int
	for _, w := range ws {
		pids = append(pids, w.cmd.Process.Pid)
	}
	return pids
}

func stopWorkers(ws []*workerProc) {
	for _, w := range ws {
		w.in.Close()
		_ = w.cmd.Process.Kill()
		_ = w.cmd.Wait()
	}
}

// sum adds up the workers' latest progress.
func sum(ws []*workerProc) workerReport {
	var t workerReport
	t.Errors = map[string]int{}
	for _, w := range ws {
		w.mu.Lock()
		r := w.last
		w.mu.Unlock()
		add(&t, r)
	}
	return t
}

func add(t *workerReport, r workerReport) {
	t.Opened += r.Opened
	t.Failed += r.Failed
	t.Retries += r.Retries
	t.Ended += r.Ended
	t.Events += r.Events
	t.Lost += r.Lost
	t.Behind += r.Behind
	t.LostMovedAgain += r.LostMovedAgain
	t.MovedAgain += r.MovedAgain
	t.Dup += r.Dup
	t.Polls += r.Polls
	t.PollErrs += r.PollErrs
	t.Confirmed += r.Confirmed
	t.ConfirmErrs += r.ConfirmErrs
	t.Known += r.Known
	t.Stale += r.Stale
	t.Skipped += r.Skipped
	t.Lat.merge(r.Lat)
	t.ConfirmLat.merge(r.ConfirmLat)
	if t.Errors == nil {
		t.Errors = map[string]int{}
	}
	for k, v := range r.Errors {
		t.Errors[k] += v
	}
	t.EndedReasons = append(t.EndedReasons, r.EndedReasons...)
	t.Resumed += r.Resumed
	t.Offline.merge(r.Offline)
	for k, v := range r.Refusals {
		if t.Refusals == nil {
			t.Refusals = map[string]int{}
		}
		t.Refusals[k] += v
	}
	for k, v := range r.EndCauses {
		if t.EndCauses == nil {
			t.EndCauses = map[string]int{}
		}
		t.EndCauses[k] += v
	}
	for k, v := range r.ResumeTenths {
		if t.ResumeTenths == nil {
			t.ResumeTenths = map[int64]int64{}
		}
		t.ResumeTenths[k] += v
	}
	t.LastEnd = max(t.LastEnd, r.LastEnd)
	t.LastResume = max(t.LastResume, r.LastResume)
	if r.FirstResume != 0 && (t.FirstResume == 0 || r.FirstResume < t.FirstResume) {
		t.FirstResume = r.FirstResume
	}
}

// finish asks every worker for its final report and waits for all of them.
func (b *bench) finish(ws []*workerProc, expect []int64) (workerReport, error) {
	return b.finishWith(ws, workerCmd{Op: "finish", Expect: expect})
}

// finishWith is finish with the command given (Op "finish").
func (b *bench) finishWith(ws []*workerProc, c workerCmd) (workerReport, error) {
	for _, w := range ws {
		if err := w.send(c); err != nil {
			return workerReport{}, err
		}
	}
	var t workerReport
	t.Errors = map[string]int{}
	for _, w := range ws {
		select {
		case r, ok := <-w.final:
			if !ok {
				return t, fmt.Errorf("a worker ended without its report: %s", w.logs)
			}
			add(&t, r)
		case <-time.After(60 * time.Second):
			return t, errors.New("a worker did not report within 60s")
		}
	}
	stopWorkers(ws)
	return t, nil
}

// addFinal records in r what every scenario takes from the workers' final reports.
func (r *result) addFinal(final workerReport) {
	r.Held = final.Opened - final.Ended
	r.OpenFailed = final.Failed
	r.Ended = final.Ended
	r.Errors = final.Errors
	r.EndedReasons = final.EndedReasons
}

// waitOpen waits until every stream opened or failed, and returns when the last one did.
// A server that stops admitting streams (no progress for 30 s: an overloaded polling
// baseline, say) does not end the run: it goes on with what it has, which the results show.
func (b *bench) waitOpen(ws []*workerProc, n int, srv *server) (time.Time, error) {
	deadline := time.Now().Add(time.Duration(n)*5*time.Millisecond + 2*time.Minute)
	var last int64
	lastChange := time.Now()
	for {
		s := sum(ws)
		done := s.Opened + s.Failed
		if int(done) >= n {
			return time.Now(), nil
		}
		if done != last {
			last, lastChange = done, time.Now()
		}
		if err := b.check(srv); err != nil {
			return time.Time{}, err
		}
		if time.Since(lastChange) > 30*time.Second || time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "\nssebench: only %d of %d streams opened (%d failed); going on with them\n", s.Opened, n, s.Failed)
			return lastChange, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}
