package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/testinstance"
)

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
	// secret and tokenExp sign the streams' own tokens (see streamHeader).
	secret   string
	tokenExp time.Time
	status   func() string // the progress line of the current phase
	mu       sync.Mutex
	// profiled counts the profiles taken of each kind and server (see profileFile).
	profiled map[string]int
	// config is the scenario's YAML for the sse-api config (read here, not from the
	// scenarios map by startAPI, which a scenario's measure may call).
	config string
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

	b := &bench{o: o, ctx: ctx, runID: strconv.FormatInt(time.Now().UnixNano()/1e6, 36), config: scenarios[o.scenario].config}
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
	needAPI := strings.Contains(o.servers, "sse-api") || strings.Contains(o.servers, "before")
	if needAPI && o.url == "" {
		if o.redisAddr == "" {
			r, err := startRedis(scenarios[o.scenario].redisArgs...)
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
			if err := testinstance.Build(b.ctx, o.bin, false); err != nil {
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
	b.secret, b.tokenExp = secret, exp
	b.token, err = auth.NewTokens(secret).Sign(map[string]any{
		auth.ClaimUID: "bench", auth.ClaimPublish: []string{"bench:*"}, auth.ClaimSubscribe: []string{"bench:*"},
	}, exp)
	if err != nil {
		return nil, err
	}
	b.phone, _ = auth.NewTokens(secret).Sign(map[string]any{auth.ClaimUID: "bench-phone"}, exp)

	stopProgress := b.progress()
	defer stopProgress()

	measure := scenarios[o.scenario].measure
	var results []result
	for _, kind := range strings.Split(o.servers, ",") {
		kind = strings.TrimSpace(kind)
		if kind == "" {
			continue
		}
		if b.redisP != nil {
			// Every server starts on an empty Redis: the topics of the run's earlier servers
			// (the same names) would make a later one read and trim longer streams.
			if err := b.rdb.FlushAll(b.ctx).Err(); err != nil {
				return nil, fmt.Errorf("flushing the private Redis: %w", err)
			}
		}
		srv, err := b.startServer(kind)
		if err != nil {
			return nil, err
		}
		rs, err := measure(b, srv)
		srv.stop()
		if err != nil {
			return nil, err
		}
		results = append(results, rs...)
	}
	return results, nil
}

// logsOnErrors shows the end of the server's log when the run saw errors.
func (b *bench) logsOnErrors(srv *server, r result) {
	if len(r.Errors) == 0 && r.PublishErrors == 0 && r.ConfirmErrors == 0 {
		return
	}
	for i, p := range srv.procs {
		var errs []string
		for _, line := range strings.Split(p.Logs.String(), "\n") {
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
	return []int{b.redisP.Pid()}
}

func (b *bench) startServer(kind string) (*server, error) {
	o := b.o
	switch kind {
	case "ref":
		return startRef(o.instances, o.heartbeat, false, 0)
	case "ref-gozero":
		return startRef(o.instances, o.heartbeat, true, (o.n+o.instances-1)/o.instances+10000)
	case "sse-api":
		if o.url != "" {
			s := &server{kind: kind, name: kind, targets: []string{o.url}}
			if o.dev != "" {
				s.devs = []string{o.dev}
			}
			if o.pid != 0 {
				s.pids = []int{o.pid}
			}
			return s, nil
		}
		return b.startAPI(o.bin, kind)
	case "before":
		return b.startAPI(o.before, "sse-api@before")
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

// authHeader is the request header that authorizes the run's requests to srv.
// streamHeader is the Authorization header of stream i: a token of its own (user bench-<i>),
// as clients have, so that the server verifies every open as it would in a reconnect storm,
// not one token it has already seen.
func (b *bench) streamHeader(i int) (string, error) {
	tok, err := auth.NewTokens(b.secret).Sign(map[string]any{
		auth.ClaimUID: fmt.Sprintf("bench-%d", i), auth.ClaimSubscribe: []string{"bench:*"},
	}, b.tokenExp)
	return "Authorization: Bearer " + tok + "\r\n", err
}

func (b *bench) authHeader(srv *server) string {
	if srv.kind != "sse-api" {
		return ""
	}
	return "Authorization: Bearer " + b.token + "\r\n"
}
