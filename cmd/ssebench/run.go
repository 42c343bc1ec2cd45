package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/auth"
)

// benchSecret signs the run's tokens; the sse-api instances the run starts use it.
const benchSecret = "ssebench-secret-0123456789"

type options struct {
	scenario  string
	n         int
	instances int
	rate      float64
	duration  time.Duration
	hold      time.Duration
	events    int
	servers   string
	bin       string
	url, dev  string
	pid       int
	secret    string
	redisAddr string
	perWorker int
	perAddr   int
	payload   int
	heartbeat time.Duration
	queue     int
	out       string
	conc      int
	timeout   time.Duration
	logLevel  string
	profile   string
	pubConns  int
	extra     string

	confirms     int
	confirmRate  float64
	idle         time.Duration
	pollInterval time.Duration
	qrPoll       bool
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&o.scenario, "scenario", "idle", "idle | fanout | topics | qr (with qr-poll beside it) | publish")
	fs.IntVar(&o.n, "n", 0, "streams (idle 19000, fanout 10000, topics 15000, qr 15000 browsers)")
	fs.IntVar(&o.instances, "instances", 1, "server instances sharing one Redis (streams are spread over them)")
	fs.Float64Var(&o.rate, "rate", 0, "publishes per second (fanout 20, topics 5000)")
	fs.DurationVar(&o.duration, "duration", 0, "publishing time (fanout and topics 60s, publish 20s)")
	fs.DurationVar(&o.hold, "hold", 15*time.Second, "idle: how long the quiet streams are held before RSS is read")
	fs.IntVar(&o.events, "events", 3, "idle: events published after the hold, each checked to reach every stream once")
	fs.StringVar(&o.servers, "servers", "ref,sse-api", "servers to measure, in order: ref, sse-api")
	fs.StringVar(&o.bin, "bin", "", "sse-api binary to start (default: go build . into a temporary directory)")
	fs.StringVar(&o.url, "url", "", "measure an sse-api already running here (host:port, loopback) instead of starting one")
	fs.StringVar(&o.dev, "dev", "", "with -url: its DevServer host:port (pprof)")
	fs.IntVar(&o.pid, "pid", 0, "with -url: its pid, for RSS and CPU from /proc")
	fs.StringVar(&o.secret, "secret", benchSecret, "with -url: its Auth.AccessSecret")
	fs.StringVar(&o.redisAddr, "redis", "", "Redis for the sse-api instances; empty: start a private redis-server for the run (clean INFO commandstats)")
	fs.IntVar(&o.perWorker, "per-worker", 9500, "streams per load process (each is bounded by its open-file limit)")
	fs.IntVar(&o.perAddr, "per-addr", 10000, "connections per source address 127.0.0.2, 127.0.0.3, ...")
	fs.IntVar(&o.payload, "payload", 64, "approximate event data size in bytes")
	fs.DurationVar(&o.heartbeat, "heartbeat", 15*time.Second, "heartbeat interval of both servers")
	fs.IntVar(&o.queue, "queue", 256, "sse-api Stream.QueueSize")
	fs.StringVar(&o.out, "out", "", "JSON results file (default ssebench-<scenario>-<time>.json)")
	fs.IntVar(&o.conc, "connect-concurrency", 200, "connections opened at once per load process")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "hard bound on the whole run")
	fs.StringVar(&o.logLevel, "loglevel", "error", "sse-api Log.Level (info logs a line per stream end)")
	fs.StringVar(&o.profile, "profile", "", "directory for sse-api CPU and heap profiles taken during the measured phase")
	fs.IntVar(&o.pubConns, "pub-conns", 0, "publisher connections (topics 64, publish 64, else 1)")
	fs.StringVar(&o.extra, "config", "", "YAML appended to the sse-api config the run writes (\\n for new lines), e.g. 'Middlewares:\\n  Trace: false'")
	fs.IntVar(&o.confirms, "confirms", 1000, "qr: sessions the phones confirm after the idle window")
	fs.Float64Var(&o.confirmRate, "confirm-rate", 100, "qr: confirmations per second")
	fs.DurationVar(&o.idle, "idle", 15*time.Second, "qr: idle window over which Redis commands are counted")
	fs.DurationVar(&o.pollInterval, "poll-interval", time.Second, "qr-poll: each browser's polling interval")
	fs.BoolVar(&o.qrPoll, "qr-poll", true, "qr: run the polling baseline after the SSE browsers")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	switch o.scenario {
	case "idle":
		def(&o.n, 19000)
	case "fanout":
		def(&o.n, 10000)
		if o.rate == 0 {
			o.rate = 20
		}
		if o.duration == 0 {
			o.duration = 60 * time.Second
		}
		def(&o.pubConns, 1)
	case "topics":
		def(&o.n, 15000)
		if o.rate == 0 {
			o.rate = 5000
		}
		if o.duration == 0 {
			o.duration = 60 * time.Second
		}
		def(&o.pubConns, 64)
	case "qr":
		def(&o.n, 15000)
		o.servers = "sse-api"
	case "publish":
		if o.duration == 0 {
			o.duration = 20 * time.Second
		}
		def(&o.pubConns, 64)
	default:
		return o, fmt.Errorf("unknown scenario %q", o.scenario)
	}
	if o.url != "" && !isLoopback(o.url) {
		return o, errors.New("-url must be a 127.0.0.0/8 address: the tool only loads this machine")
	}
	if o.redisAddr != "" && !isLoopback(o.redisAddr) {
		return o, errors.New("-redis must be a 127.0.0.0/8 address")
	}
	if o.out == "" {
		o.out = fmt.Sprintf("ssebench-%s-%s.json", o.scenario, time.Now().Format("20060102-150405"))
	}
	return o, nil
}

// bench is one run.
type bench struct {
	o      options
	ctx    context.Context
	runID  string
	tmp    string
	redis  string
	redisP *redisServer // the private one, if started
	rdb    *redis.Client
	token  string
	phone  string
	status func() string // the progress line of the current phase
	mu     sync.Mutex
}

func runMain(args []string) int {
	o, err := parseOptions(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssebench:", err)
		return 2
	}
	limit := raiseNoFile()
	perInstance := (o.n + o.instances - 1) / o.instances
	fmt.Fprintf(os.Stderr, "ssebench: open-file limit of this tool and its workers: %d (each worker holds at most %d streams)\n", limit, o.perWorker)
	// A stream is one socket; besides them an instance holds its listeners, the Redis pools
	// (go-redis: 10 per core, go-zero's limiter: its own), the pub/sub link: a few dozen.
	need := perInstance + 200
	fmt.Fprintf(os.Stderr, "ssebench: each server instance holds %d streams and needs `ulimit -n %d` or more", perInstance, need)
	if uint64(perInstance+64) > limit {
		fmt.Fprintf(os.Stderr, ": more than this machine's hard limit %d, use -instances %d\n", limit, (o.n+int(limit)-201)/(int(limit)-200))
		return 2
	}
	if uint64(need) > limit {
		fmt.Fprintf(os.Stderr, " (tight: the hard limit here is %d)", limit)
	}
	fmt.Fprintln(os.Stderr, "; the servers this tool starts inherit its limit")

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	b := &bench{o: o, ctx: ctx, runID: strconv.FormatInt(time.Now().UnixNano()/1e6, 36)}
	b.tmp, err = os.MkdirTemp("", "ssebench")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssebench:", err)
		return 1
	}
	defer os.RemoveAll(b.tmp)

	res, err := b.run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "\nssebench:", err)
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "ssebench: stopped by -timeout or a signal")
		}
		return 1
	}
	printTable(os.Stdout, o, res)
	if err := writeJSON(o, res); err != nil {
		fmt.Fprintln(os.Stderr, "ssebench:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "ssebench: results in", o.out)
	return 0
}

func (b *bench) run() ([]result, error) {
	o := b.o
	needAPI := strings.Contains(o.servers, "sse-api")
	if needAPI && o.url == "" {
		if o.redisAddr == "" {
			r, err := startRedis()
			if err != nil {
				fmt.Fprintln(os.Stderr, "ssebench: no private redis-server (", err, "), using 127.0.0.1:6379")
				b.redis = "127.0.0.1:6379"
			} else {
				defer r.stop()
				b.redis = r.addr
				b.redisP = r
				fmt.Fprintln(os.Stderr, "ssebench: private redis-server at", r.addr)
			}
		} else {
			b.redis = o.redisAddr
		}
		if o.bin == "" {
			o.bin = b.tmp + "/sse-api"
			fmt.Fprintln(os.Stderr, "ssebench: building sse-api")
			build := exec.CommandContext(b.ctx, "go", "build", "-o", o.bin, "github.com/sseapi/sse-api")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				return nil, fmt.Errorf("building sse-api (run from the sse-api module, or pass -bin): %w", err)
			}
			b.o.bin = o.bin
		}
	}
	if b.redis == "" && o.redisAddr != "" {
		b.redis = o.redisAddr // -url: the Redis that instance uses, for INFO commandstats
	}
	if b.redis != "" {
		b.rdb = redis.NewClient(&redis.Options{Addr: b.redis})
		defer b.rdb.Close()
	}
	secret := benchSecret
	if o.url != "" {
		secret = o.secret
	}
	var err error
	exp := time.Now().Add(o.timeout + time.Hour)
	b.token, err = auth.NewTokens(secret).Sign(map[string]any{
		auth.ClaimUID: "bench", auth.ClaimPublish: []string{"bench:*"}, auth.ClaimSubscribe: []string{"bench:*"},
	}, exp)
	if err != nil {
		return nil, err
	}
	b.phone, _ = auth.NewTokens(secret).Sign(map[string]any{auth.ClaimUID: "bench-phone"}, exp)

	stopProgress := b.progress()
	defer stopProgress()

	var results []result
	if o.scenario == "qr" {
		srv, err := b.startServer("sse-api")
		if err != nil {
			return nil, err
		}
		defer srv.stop()
		for _, poll := range []bool{false, true} {
			if poll && !o.qrPoll {
				break
			}
			r, err := b.qr(srv, poll)
			if err != nil {
				return nil, err
			}
			b.logsOnErrors(srv, r)
			results = append(results, r)
		}
		return results, nil
	}
	for _, kind := range strings.Split(o.servers, ",") {
		kind = strings.TrimSpace(kind)
		if kind == "" {
			continue
		}
		srv, err := b.startServer(kind)
		if err != nil {
			return nil, err
		}
		var r result
		if o.scenario == "publish" {
			r, err = b.publishFlood(srv)
		} else {
			r, err = b.streams(srv)
		}
		if err == nil {
			b.logsOnErrors(srv, r)
		}
		srv.stop()
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

// logsOnErrors shows the end of the server's log when the run saw errors.
func (b *bench) logsOnErrors(srv *server, r result) {
	if len(r.Errors) == 0 && r.PublishErrors == 0 && r.ConfirmErrors == 0 {
		return
	}
	for i, l := range srv.logs {
		var errs []string
		for _, line := range strings.Split(l.String(), "\n") {
			if strings.Contains(strings.ToLower(line), "error") {
				errs = append(errs, line)
			}
		}
		if len(errs) > 40 {
			errs = append(errs[:30:30], append([]string{"..."}, errs[len(errs)-10:]...)...)
		}
		fmt.Fprintf(os.Stderr, "\n--- %s %s log, error lines:\n%s\n", srv.kind, srv.targets[i], strings.Join(errs, "\n"))
	}
}

// redisPids is the private Redis's pid, for its CPU time; none with a shared Redis.
func (b *bench) redisPids() []int {
	if b.redisP == nil {
		return nil
	}
	return []int{b.redisP.cmd.Process.Pid}
}

func (b *bench) startServer(kind string) (*server, error) {
	o := b.o
	perInstance := (o.n + o.instances - 1) / o.instances
	switch kind {
	case "ref":
		return startRef(o.instances, o.heartbeat)
	case "sse-api":
		if o.url != "" {
			s := &server{kind: kind, targets: []string{o.url}, extern: true}
			if o.dev != "" {
				s.devs = []string{o.dev}
			}
			if o.pid != 0 {
				s.pids = []int{o.pid}
			}
			return s, nil
		}
		return startAPI(o.bin, o.instances, perInstance, b.redis, o.logLevel, o.heartbeat, o.queue, strings.ReplaceAll(o.extra, `\n`, "\n"), b.tmp)
	}
	return nil, fmt.Errorf("unknown server %q", kind)
}

func (b *bench) setStatus(f func() string) {
	b.mu.Lock()
	b.status = f
	b.mu.Unlock()
}

// progress prints the current phase's status line every second (in place on a terminal,
// every 5 s otherwise) until the returned function is called.
func (b *bench) progress() func() {
	fi, _ := os.Stderr.Stat()
	tty := fi != nil && fi.Mode()&os.ModeCharDevice != 0
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		n := 0
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(os.Stderr, "\n")
				}
				return
			case <-t.C:
			}
			n++
			b.mu.Lock()
			f := b.status
			b.mu.Unlock()
			if f == nil {
				continue
			}
			line := f()
			switch {
			case tty:
				fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
			case n%5 == 0:
				fmt.Fprintln(os.Stderr, line)
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// workerProc is one load process.
type workerProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	enc   *json.Encoder
	logs  *tailBuffer
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
		w := &workerProc{cmd: cmd, in: in, enc: json.NewEncoder(in), logs: &tailBuffer{}, final: make(chan workerReport, 1)}
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
	t.Dup += r.Dup
	t.Polls += r.Polls
	t.PollErrs += r.PollErrs
	t.Confirmed += r.Confirmed
	t.ConfirmErrs += r.ConfirmErrs
	t.Known += r.Known
	t.Lat.merge(r.Lat)
	t.ConfirmLat.merge(r.ConfirmLat)
	if t.Errors == nil {
		t.Errors = map[string]int{}
	}
	for k, v := range r.Errors {
		t.Errors[k] += v
	}
	t.EndedReasons = append(t.EndedReasons, r.EndedReasons...)
}

// finish asks every worker for its final report and waits for all of them.
func (b *bench) finish(ws []*workerProc, expect []int64) (workerReport, error) {
	for _, w := range ws {
		if err := w.send(workerCmd{Op: "finish", Expect: expect}); err != nil {
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

// check fails the run when it was cancelled or a server died.
func (b *bench) check(srv *server) error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	return srv.alive()
}

// sleep waits d unless the run is cancelled or a server died.
func (b *bench) sleep(d time.Duration, srv *server) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if err := b.check(srv); err != nil {
			return err
		}
		time.Sleep(min(200*time.Millisecond, time.Until(end)))
	}
	return b.check(srv)
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

// streams runs idle, fanout or topics against srv.
func (b *bench) streams(srv *server) (result, error) {
	o := b.o
	r := result{Server: srv.kind, Scenario: o.scenario, Instances: len(srv.targets), Streams: o.n}
	label := srv.kind + " " + o.scenario

	ntopics := 1
	if o.scenario == "topics" {
		ntopics = o.n
	}
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
	header := ""
	if srv.kind == "sse-api" {
		header = "Authorization: Bearer " + b.token + "\r\n"
	}

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

	t0 := time.Now()
	for wi, w := range ws {
		c := workerCmd{Op: "open", Targets: srv.targets, Header: header, Paths: paths, Concurrency: o.conc}
		for i := wi * o.perWorker; i < min(o.n, (wi+1)*o.perWorker); i++ {
			c.Streams = append(c.Streams, streamSpec{T: i % len(srv.targets), Topic: i % ntopics, Src: sourceAddr(i, o.perAddr)})
		}
		if err := w.send(c); err != nil {
			return r, err
		}
	}
	t1, err := b.waitOpen(ws, o.n, srv)
	if err != nil {
		return r, err
	}
	opened := sum(ws)
	r.ConnectSeconds = t1.Sub(t0).Seconds()
	r.ConnectPerSec = float64(opened.Opened) / r.ConnectSeconds

	// Hold the streams quietly, then read memory.
	hold := 3 * time.Second
	if o.scenario == "idle" {
		hold = o.hold
	}
	c0, _ := readProcs(srv.pids)
	h0 := time.Now()
	if err := b.sleep(hold, srv); err != nil {
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
		if err := srv.heapProfile(fmt.Sprintf("%s/heap-%s-%s.pb.gz", o.profile, o.scenario, b.runID)); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench: heap profile:", err)
		}
	}

	// Publish.
	rate, count := o.rate, int64(o.rate*o.duration.Seconds())
	if o.scenario == "idle" {
		// One probe every 2 s: at 100,000 streams one event is most of a second of CPU.
		rate, count = 0.5, int64(o.events)
	}
	pubTargets := srv.targets
	pub := newPublisher(srv.kind, pubTargets, header, topics, o.payload)
	b.setStatus(b.streamStatus(label, ws, o.n, srv, pub))
	before := sum(ws)
	cpu0, _ := readProcs(srv.pids)
	load0, _ := readProcs(append(workerPids(ws), os.Getpid()))
	redis0, _ := readProcs(b.redisPids())
	p0 := time.Now()
	var profWG sync.WaitGroup
	if o.profile != "" && srv.kind == "sse-api" && o.scenario != "idle" {
		secs := max(1, int(o.duration.Seconds())-2)
		profWG.Add(1)
		go func() {
			defer profWG.Done()
			f := fmt.Sprintf("%s/cpu-%s-%s.pb.gz", o.profile, o.scenario, b.runID)
			if err := srv.cpuProfile(b.ctx, secs, f); err != nil {
				fmt.Fprintln(os.Stderr, "ssebench: cpu profile:", err)
			}
		}()
	}
	pubDone := make(chan struct{})
	go func() { pub.run(b.ctx, rate, count, o.pubConns); close(pubDone) }()
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
	cpu1, _ := readProcs(srv.pids)
	load1, _ := readProcs(append(workerPids(ws), os.Getpid()))
	redis1, _ := readProcs(b.redisPids())
	r.LoadCPUSeconds = (load1.CPU - load0.CPU).Seconds()
	r.RedisCPUSeconds = (redis1.CPU - redis0.CPU).Seconds()
	profWG.Wait()

	r.Published = pub.sent.Load()
	r.PublishErrors = pub.errs.Load()
	if s, ok := pub.lastErr.Load().(string); ok {
		r.PublishLastError = s
	}
	r.PublishPerSec = float64(r.Published) / pubEnd.Sub(p0).Seconds()
	r.PublishLat = latencyOf(pub.lat.snapshot())
	r.Deliveries = last - before.Events
	r.ExpectedDeliveries = want
	window := lastChange.Sub(p0).Seconds()
	if window > 0 {
		r.DeliveriesPerSec = float64(r.Deliveries) / window
	}
	r.CPUSeconds = (cpu1.CPU - cpu0.CPU).Seconds()
	if r.Deliveries > 0 {
		r.CPUPerDeliveryUS = r.CPUSeconds * 1e6 / float64(r.Deliveries)
	}
	r.WindowSeconds = window

	final, err := b.finish(ws, expect)
	if err != nil {
		return r, err
	}
	r.Held = final.Opened - final.Ended
	r.OpenFailed = final.Failed
	r.OpenRetries = final.Retries
	r.Ended = final.Ended
	r.Lost, r.Dup = final.Lost, final.Dup
	r.Lat = latencyOf(final.Lat)
	r.Errors = final.Errors
	r.EndedReasons = final.EndedReasons
	b.setStatus(nil)
	return r, nil
}

// publishFlood is the publish-throughput scenario: closed-loop publishing over pubConns
// connections for the duration, no subscribers.
func (b *bench) publishFlood(srv *server) (result, error) {
	o := b.o
	r := result{Server: srv.kind, Scenario: o.scenario, Instances: len(srv.targets)}
	header := ""
	if srv.kind == "sse-api" {
		header = "Authorization: Bearer " + b.token + "\r\n"
	}
	topics := make([]string, o.pubConns)
	for i := range topics {
		topics[i] = fmt.Sprintf("bench:%s:p%d", b.runID, i)
	}
	pub := newPublisher(srv.kind, srv.targets, header, topics, o.payload)
	start := time.Now()
	b.setStatus(func() string {
		ps, _ := readProcs(srv.pids)
		return fmt.Sprintf("[%s publish] %3.0fs published %d (%.0f/s) err %d | server cpu %.1fs",
			srv.kind, time.Since(start).Seconds(), pub.sent.Load(), float64(pub.sent.Load())/time.Since(start).Seconds(), pub.errs.Load(), ps.CPU.Seconds())
	})
	if err := b.sleep(time.Second, srv); err != nil {
		return r, err
	}
	c0, _ := readProcs(srv.pids)
	load0, _ := readProcs([]int{os.Getpid()})
	redis0, _ := readProcs(b.redisPids())
	ctx, cancel := context.WithTimeout(b.ctx, o.duration)
	defer cancel()
	var profWG sync.WaitGroup
	if o.profile != "" && srv.kind == "sse-api" {
		profWG.Add(1)
		go func() {
			defer profWG.Done()
			_ = srv.cpuProfile(b.ctx, max(1, int(o.duration.Seconds())-2), fmt.Sprintf("%s/cpu-publish-%s.pb.gz", o.profile, b.runID))
		}()
	}
	t0 := time.Now()
	pub.flood(ctx, o.pubConns)
	el := time.Since(t0)
	c1, _ := readProcs(srv.pids)
	load1, _ := readProcs([]int{os.Getpid()})
	redis1, _ := readProcs(b.redisPids())
	r.LoadCPUSeconds = (load1.CPU - load0.CPU).Seconds()
	r.RedisCPUSeconds = (redis1.CPU - redis0.CPU).Seconds()
	profWG.Wait()
	r.Published = pub.sent.Load()
	r.PublishErrors = pub.errs.Load()
	if s, ok := pub.lastErr.Load().(string); ok {
		r.PublishLastError = s
	}
	r.PublishPerSec = float64(r.Published) / el.Seconds()
	r.PublishLat = latencyOf(pub.lat.snapshot())
	r.CPUSeconds = (c1.CPU - c0.CPU).Seconds()
	if r.Published > 0 {
		r.CPUPerPublishUS = r.CPUSeconds * 1e6 / float64(r.Published)
	}
	r.RSS = c1.RSS
	r.WindowSeconds = el.Seconds()
	b.setStatus(nil)
	return r, b.check(srv)
}

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
	r.Held = final.Opened - final.Ended
	r.OpenFailed = final.Failed
	r.Ended = final.Ended
	r.Confirms = final.Confirmed
	r.ConfirmErrors = final.ConfirmErrs
	r.Known = final.Known
	r.ConfirmLat = latencyOf(final.ConfirmLat)
	r.Errors = final.Errors
	r.EndedReasons = final.EndedReasons
	b.setStatus(nil)
	return r, nil
}
