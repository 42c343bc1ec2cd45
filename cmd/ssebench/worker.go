package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The orchestrator (ssebench run) starts workers (ssebench worker) and talks to them in JSON
// lines: commands on the worker's stdin, progress and results on its stdout. One worker holds
// at most what its open-file limit allows, so a run that needs more streams starts more.

type workerCmd struct {
	Op string `json:"op"` // open, qr, confirm, resume, finish

	// open: streams on topics. Paths[topic] is the request URI of the topic's stream.
	// resume: from now on a stream the server ends comes back on Targets[0], with Header.
	Targets     []string     `json:"targets,omitempty"`
	Header      string       `json:"header,omitempty"`
	Paths       []string     `json:"paths,omitempty"`
	Streams     []streamSpec `json:"streams,omitempty"`
	Concurrency int          `json:"concurrency,omitempty"`

	// qr: browsers that each create a QR-login session, then wait on its event stream or
	// poll its state every PollInterval.
	Browsers     []qrSpec      `json:"browsers,omitempty"`
	Poll         bool          `json:"poll,omitempty"`
	PollInterval time.Duration `json:"pollInterval,omitempty"`

	// confirm: the phone scans and confirms N more sessions, with this token.
	N          int    `json:"n,omitempty"`
	PhoneToken string `json:"phoneToken,omitempty"`

	// finish: the highest sequence number published on each topic.
	Expect []int64 `json:"expect,omitempty"`
	// finish: the topics are values (state keys): report streams and pages not holding
	// the last one (stale) and the values they skipped, instead of events lost.
	Values bool `json:"values,omitempty"`

	// pollkeys: pages polling the legacy service's /key/<Prefix><i>, one per key.
	Keys keyRange `json:"keys,omitzero"`
}

// keyRange is the keys Prefix<From> ... Prefix<To-1>; page i polls from sourceAddr(i, PerAddr).
type keyRange struct {
	Prefix   string `json:"prefix"`
	From, To int
	PerAddr  int `json:"perAddr"`
}

type streamSpec struct {
	T      int    `json:"t"` // index in Targets
	Topic  int    `json:"k"`
	Src    string `json:"s"`
	Header string `json:"h,omitempty"` // the stream's own, instead of the command's Header
}

type qrSpec struct {
	T   int    `json:"t"`
	Src string `json:"s"`
}

// workerReport is a progress line (Final false) or the last line (Final true).
type workerReport struct {
	Final          bool           `json:"final,omitempty"`
	Opened         int64          `json:"opened"`
	Failed         int64          `json:"failed"`
	Retries        int64          `json:"retries"`
	Ended          int64          `json:"ended"`
	Events         int64          `json:"events"`
	Errors         map[string]int `json:"errors,omitempty"`
	Lost           int64          `json:"lost"`
	LostMovedAgain int64          `json:"lostMovedAgain"` // of Lost: skipped by streams that resumed more than once
	MovedAgain     int64          `json:"movedAgain"`     // streams that resumed more than once
	Behind         int64          `json:"behind"`         // of Lost: the last events of a topic, not arrived by the end
	Dup            int64          `json:"dup"`
	Lat            histSnap       `json:"lat"`
	Polls          int64          `json:"polls"`
	PollErrs       int64          `json:"pollErrs"`
	// qr
	Confirmed    int64    `json:"confirmed"`
	ConfirmErrs  int64    `json:"confirmErrs"`
	Known        int64    `json:"known"` // browsers that learnt of their confirmation
	ConfirmLat   histSnap `json:"confirmLat"`
	EndedReasons []string `json:"endedReasons,omitempty"`
	// watch
	Stale   int64 `json:"stale"`   // streams and pages not holding their key's last value
	Skipped int64 `json:"skipped"` // values overwritten before they were seen
	// deploy (see worker_deploy.go)
	Resuming     bool            `json:"resuming,omitempty"` // the resume command was taken
	Resumed      int64           `json:"resumed"`
	Refusals     map[string]int  `json:"refusals,omitempty"`
	Offline      histSnap        `json:"offline"`     // time each resumed stream was without a connection
	LastEnd      int64           `json:"lastEnd"`     // unix ns of the last end the server made
	FirstResume  int64           `json:"firstResume"` // unix ns
	LastResume   int64           `json:"lastResume"`
	ResumeTenths map[int64]int64 `json:"resumeTenths,omitempty"` // resumes per unix ns / 1e8
	EndCauses    map[string]int  `json:"endCauses,omitempty"`
}

const latShards = 16

type worker struct {
	out   *json.Encoder
	outMu sync.Mutex

	mu      sync.Mutex
	streams []*stream
	errors  map[string]int

	opened, failed atomic.Int64
	retries        atomic.Int64 // opens refused (503, 429) and tried again
	closing        atomic.Bool
	poller         *poller
	lat            [latShards]hist

	// qr
	sessions    []*qrSession
	confirmNext int
	confirmed   atomic.Int64
	confirmErrs atomic.Int64
	known       atomic.Int64
	confirmLat  hist
	polls       atomic.Int64
	pollErrs    atomic.Int64
	pollStop    chan struct{}
	client      *http.Client

	// watch
	pages  []*keyPage
	events atomic.Int64 // new values the pages saw
	values atomic.Bool  // the final report is of values (workerCmd.Values)

	// deploy
	move moving
}

type qrSession struct {
	target, id, key, cookie string
	s                       *stream // nil when polling
	confirmSent             atomic.Int64
	known                   atomic.Bool
}

func runWorker() {
	raiseNoFile()
	// SSEBENCH_WORKER_PROFILE=dir: each worker writes a CPU profile of itself there, to see
	// what the load generator costs.
	if dir := os.Getenv("SSEBENCH_WORKER_PROFILE"); dir != "" {
		f, err := os.Create(fmt.Sprintf("%s/worker-%d.pprof", dir, os.Getpid()))
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	w := &worker{out: json.NewEncoder(os.Stdout), errors: map[string]int{}, pollStop: make(chan struct{})}
	var err error
	if w.poller, err = newPoller(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
	w.poller.onEnd = w.streamEnded
	go w.poller.loop(&w.closing)
	go w.progress()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<30)
	for in.Scan() {
		var c workerCmd
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			fmt.Fprintln(os.Stderr, "worker: bad command:", err)
			os.Exit(2)
		}
		switch c.Op {
		case "open":
			go w.open(c)
		case "qr":
			go w.qr(c)
		case "confirm":
			go w.confirm(c)
		case "pollkeys":
			go w.pollKeys(c)
		case "resume":
			w.startResuming(c)
		case "finish":
			w.finish(c)
			return
		}
	}
	pprof.StopCPUProfile()
	// The orchestrator went away: stop.
	os.Exit(1)
}

func (w *worker) send(r workerReport) {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	_ = w.out.Encode(r)
}

func (w *worker) fail(err error) {
	w.failed.Add(1)
	msg := err.Error()
	// Keep the reasons few: drop addresses and ports.
	msg = addrRE.ReplaceAllString(msg, "<addr>")
	if len(msg) > 160 {
		msg = msg[:160]
	}
	w.mu.Lock()
	w.errors[msg]++
	w.mu.Unlock()
}

var addrRE = regexp.MustCompile(`127\.\d+\.\d+\.\d+:\d+`)

func (w *worker) progress() {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		w.send(w.report(false, nil))
	}
}

func (w *worker) report(final bool, expect []int64) workerReport {
	w.mu.Lock()
	streams, pages := w.streams, w.pages
	errs := make(map[string]int, len(w.errors))
	for k, v := range w.errors {
		errs[k] = v
	}
	w.mu.Unlock()
	r := workerReport{
		Final: final, Opened: w.opened.Load(), Failed: w.failed.Load(), Retries: w.retries.Load(), Errors: errs,
		Polls: w.polls.Load(), PollErrs: w.pollErrs.Load(),
		Confirmed: w.confirmed.Load(), ConfirmErrs: w.confirmErrs.Load(), Known: w.known.Load(),
		Events: w.events.Load(),
	}
	reasons := map[string]bool{}
	for _, s := range streams {
		r.Events += s.events.Load()
		if s.ended.Load() {
			r.Ended++
			if final {
				if c, ok := s.endCause.Load().(string); ok {
					reasons[addrRE.ReplaceAllString(c, "<addr>")] = true
				}
			}
		}
		if final && expect != nil && s.onConfirm == nil && !w.values.Load() {
			r.Dup += s.dup
			r.Lost += s.gaps
			if s.moves > 1 {
				r.LostMovedAgain += s.gaps
				r.MovedAgain++
			}
			if want := expect[s.topic]; s.next-1 < want {
				r.Lost += want - (s.next - 1)
				r.Behind += want - (s.next - 1)
			}
		}
	}
	for k := range reasons {
		r.EndedReasons = append(r.EndedReasons, k)
	}
	if final && expect != nil && w.values.Load() {
		w.valueReport(&r, streams, pages, expect)
	}
	for i := range w.lat {
		r.Lat.merge(w.lat[i].snapshot())
	}
	r.ConfirmLat = w.confirmLat.snapshot()
	w.move.report(&r)
	return r
}

// open connects the streams, Concurrency at a time.
func (w *worker) open(c workerCmd) {
	conc := max(c.Concurrency, 1)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, sp := range c.Streams {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s, err := w.openRetrying(func(ctx context.Context) (*stream, error) {
				header := c.Header
				if sp.Header != "" {
					header = sp.Header
				}
				return openStream(ctx, c.Targets[sp.T], sp.Src, c.Paths[sp.Topic], header, sp.Topic, &w.lat[i%latShards])
			})
			if err != nil {
				w.fail(err)
				return
			}
			w.add(s)
		}()
	}
	wg.Wait()
	w.send(w.report(false, nil)) // at once, so that the connect time is exact
}

// openRetrying opens a stream, and when the server refuses it for now (503: go-zero sheds
// load while the CPU is saturated, as it is on a small machine connecting thousands of
// streams a second; 429; a 200 refusal, which an EventSource retries by itself) tries again
// after a pause, as a client with a retry policy does.
// Retries are counted and reported.
func (w *worker) openRetrying(open func(context.Context) (*stream, error)) (*stream, error) {
	pause := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		s, err := open(ctx)
		cancel()
		if err == nil || attempt == 8 || w.closing.Load() || !retryable(err) {
			return s, err
		}
		w.retries.Add(1)
		time.Sleep(pause + time.Duration(rand.Int64N(int64(pause))))
		pause = min(2*pause, 4*time.Second)
	}
}

func retryable(err error) bool {
	msg := err.Error()
	for _, p := range []string{"status 503", "status 429", "refused ", "create session: 503", "create session: 429"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func (w *worker) add(s *stream) {
	w.mu.Lock()
	w.streams = append(w.streams, s)
	w.mu.Unlock()
	w.opened.Add(1)
	if err := w.poller.add(s); err != nil {
		w.poller.end(s, err.Error())
	}
}

// httpClient is the worker's client for plain requests (QR create, poll, phone), with its
// connections spread over the browsers' source addresses.
func (w *worker) httpClient(srcs []string) *http.Client {
	var n atomic.Uint64
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			src := srcs[int(n.Add(1))%len(srcs)]
			return dialer(src).DialContext(ctx, network, addr)
		},
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

var (
	sessionIDRE  = regexp.MustCompile(`"id":"([0-9a-f]+)"`)
	sessionKeyRE = regexp.MustCompile(`"scanKey":"([A-Za-z0-9_-]+)"`)
)

// qr creates a session per browser, then opens its event stream or starts polling it.
func (w *worker) qr(c workerCmd) {
	srcs := map[string]bool{}
	for _, b := range c.Browsers {
		srcs[b.Src] = true
	}
	var list []string
	for s := range srcs {
		list = append(list, s)
	}
	w.client = w.httpClient(list)
	conc := max(c.Concurrency, 1)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for _, b := range c.Browsers {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			target := c.Targets[b.T]
			var sess *qrSession
			_, err := w.openRetrying(func(context.Context) (*stream, error) {
				var err error
				sess, err = w.createSession(target)
				return nil, err
			})
			if err != nil {
				w.fail(err)
				return
			}
			if c.Poll {
				w.mu.Lock()
				w.sessions = append(w.sessions, sess)
				w.mu.Unlock()
				w.opened.Add(1)
				go w.poll(sess, c.PollInterval)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := openStream(ctx, target, b.Src, "/v1/qr/sessions/"+sess.id+"/events", "Cookie: "+sess.cookie+"\r\n", 0, nil)
			if err != nil {
				w.fail(err)
				return
			}
			sess.s = s
			s.onConfirm = func(d time.Duration) {
				w.known.Add(1)
				w.confirmLat.record(d)
			}
			w.mu.Lock()
			w.sessions = append(w.sessions, sess)
			w.mu.Unlock()
			w.add(s)
		}()
	}
	wg.Wait()
	w.send(w.report(false, nil))
}

func (w *worker) createSession(target string) (*qrSession, error) {
	resp, err := w.client.Post("http://"+target+"/v1/qr/sessions", "application/json", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("create session: %d %s", resp.StatusCode, body)
	}
	m, k := sessionIDRE.FindSubmatch(body), sessionKeyRE.FindSubmatch(body)
	if m == nil || k == nil {
		return nil, fmt.Errorf("create session: no id or scan key in %s", body)
	}
	sess := &qrSession{target: target, id: string(m[1]), key: string(k[1])}
	for _, ck := range resp.Cookies() {
		if ck.Name == "qr_binding" {
			sess.cookie = ck.Name + "=" + ck.Value
		}
	}
	if sess.cookie == "" {
		return nil, fmt.Errorf("create session: no binding cookie")
	}
	return sess, nil
}

// poll asks for the session's state every interval, starting at a random phase as browsers
// that opened the page at different moments do, until it reads "confirmed".
func (w *worker) poll(sess *qrSession, interval time.Duration) {
	select {
	case <-time.After(time.Duration(rand.Int64N(int64(interval)))):
	case <-w.pollStop:
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	url := "http://" + sess.target + "/v1/qr/sessions/" + sess.id
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Cookie", sess.cookie)
		resp, err := w.client.Do(req)
		w.polls.Add(1)
		if err != nil {
			w.pollErrs.Add(1)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				w.pollErrs.Add(1)
			} else if strings.Contains(string(body), `"state":"confirmed"`) && !sess.known.Load() {
				sess.known.Store(true)
				if t0 := sess.confirmSent.Load(); t0 > 0 {
					w.known.Add(1)
					w.confirmLat.record(time.Duration(time.Now().UnixNano() - t0))
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

// confirm plays the phone for the next N sessions: scan, then confirm. The latency of each
// runs from the moment its confirm request is sent.
func (w *worker) confirm(c workerCmd) {
	w.mu.Lock()
	start := w.confirmNext
	end := min(start+c.N, len(w.sessions))
	w.confirmNext = end
	batch := w.sessions[start:end]
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, sess := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := "http://" + sess.target + "/v1/qr/sessions/" + sess.id
			if err := w.phone(base+"/scan", c.PhoneToken, `{"key":"`+sess.key+`"}`); err != nil {
				w.confirmErrs.Add(1)
				w.fail(err)
				return
			}
			now := time.Now().UnixNano()
			sess.confirmSent.Store(now)
			if sess.s != nil {
				sess.s.confirmSent.Store(now)
			}
			if err := w.phone(base+"/confirm", c.PhoneToken, ""); err != nil {
				w.confirmErrs.Add(1)
				w.fail(err)
				return
			}
			w.confirmed.Add(1)
		}()
	}
	wg.Wait()
}

// phone sends a phone's POST with token, and body as JSON when there is one.
func (w *worker) phone(url, token, body string) error {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", url[strings.LastIndexByte(url, '/'):], resp.StatusCode, answer)
	}
	return nil
}

// finish closes every stream, waits for their goroutines, and sends the final report.
func (w *worker) finish(c workerCmd) {
	pprof.StopCPUProfile() // if profiling: the file is complete before the report goes out
	w.closing.Store(true)
	w.values.Store(c.Values)
	close(w.pollStop)
	<-w.poller.done
	w.poller.closeAll()
	w.send(w.report(true, c.Expect))
}
