package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
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
	before    string
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
	batch     int
	extra     string
	// sharedToken opens every stream with the run's one token (-shared-token).
	sharedToken bool

	confirms     int
	confirmRate  float64
	idle         time.Duration
	pollInterval time.Duration
	qrPoll       bool

	writes    int
	writeRate float64
	watchPoll bool
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&o.scenario, "scenario", "idle", "idle | fanout | topics | qr (with qr-poll beside it) | publish | watch (with watch-poll beside it) | deploy")
	fs.IntVar(&o.n, "n", 0, "streams (idle 19000, fanout 10000, topics 15000, qr 15000 browsers, watch 15000 pages, deploy 10000)")
	fs.IntVar(&o.instances, "instances", 1, "server instances sharing one Redis (streams are spread over them)")
	fs.Float64Var(&o.rate, "rate", 0, "publishes per second (fanout 20, topics 5000, deploy 100; watch: key writes in the burst, 5000)")
	fs.DurationVar(&o.duration, "duration", 0, "publishing time (fanout and topics 60s, publish 20s, watch's burst 10s; deploy: before the SIGTERM, 5s)")
	fs.DurationVar(&o.hold, "hold", 15*time.Second, "idle: how long the quiet streams are held before RSS is read")
	fs.IntVar(&o.events, "events", 3, "idle: events published after the hold, each checked to reach every stream once")
	fs.StringVar(&o.servers, "servers", "ref,sse-api", "servers to measure, in order: ref, ref-gozero (the reference served by go-zero), sse-api, before")
	fs.StringVar(&o.bin, "bin", "", "sse-api binary to start (default: go build . into a temporary directory)")
	fs.StringVar(&o.before, "before", "", "an earlier sse-api binary, measured after -bin in the same run with the same settings (servers list: add before)")
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
	fs.IntVar(&o.pubConns, "pub-conns", 0, "publisher connections (topics 64, publish 64, deploy 4, else 1)")
	fs.IntVar(&o.batch, "batch", 0, "publish: events per request, through POST /v1/publish, each batch on its connection's topic (0: single publishes; sse-api only, at most its Stream.MaxBatch)")
	fs.BoolVar(&o.sharedToken, "shared-token", false, "stream scenarios: every stream opens with one token (the server may have verified it already), not a token each")
	fs.StringVar(&o.extra, "config", "", "YAML appended to the sse-api config the run writes (\\n for new lines), e.g. 'Middlewares:\\n  Trace: false'")
	fs.IntVar(&o.confirms, "confirms", 1000, "qr: sessions the phones confirm after the idle window")
	fs.Float64Var(&o.confirmRate, "confirm-rate", 100, "qr: confirmations per second")
	fs.DurationVar(&o.idle, "idle", 15*time.Second, "qr, watch: idle window over which Redis commands are counted")
	fs.DurationVar(&o.pollInterval, "poll-interval", time.Second, "qr-poll, watch-poll: each page's polling interval")
	fs.BoolVar(&o.qrPoll, "qr-poll", true, "qr: run the polling baseline after the SSE browsers")
	fs.IntVar(&o.writes, "writes", 1000, "watch: single writes, each to a key of its own, timed from write to page")
	fs.Float64Var(&o.writeRate, "write-rate", 100, "watch: single writes per second")
	fs.BoolVar(&o.watchPoll, "watch-poll", true, "watch: run the polling baseline after the SSE pages")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	sc, ok := scenarios[o.scenario]
	if !ok {
		return o, fmt.Errorf("unknown scenario %q", o.scenario)
	}
	if o.n == 0 {
		o.n = sc.n
	}
	if o.rate == 0 {
		o.rate = sc.rate
	}
	if o.duration == 0 {
		o.duration = sc.duration
	}
	if o.pubConns == 0 {
		o.pubConns = sc.pubConns
	}
	if sc.apiOnly {
		o.servers = "sse-api"
	}
	if o.batch < 0 || (o.batch > 0 && o.scenario != "publish") {
		return o, errors.New("-batch takes a positive number of events, with -scenario publish")
	}
	if o.batch > 0 {
		// The reference server has no batch route.
		if setFlag(fs, "servers") && o.servers != "sse-api" {
			return o, errors.New("-batch measures sse-api alone: leave -servers out or set it to sse-api")
		}
		o.servers = "sse-api"
	}
	if o.before != "" && !strings.Contains(o.servers, "before") {
		o.servers += ",before"
	}
	if o.before == "" && strings.Contains(o.servers, "before") {
		return o, errors.New("-servers names before: give its binary with -before")
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

// setFlag reports whether the command line set the flag name.
func setFlag(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
