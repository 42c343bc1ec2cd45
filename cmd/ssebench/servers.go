package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sseapi/sse-api/internal/testinstance"
)

// server is the processes of one server kind under test: the reference or sse-api, one or
// more instances.
type server struct {
	kind    string   // "ref" or "sse-api"
	name    string   // in the results: kind, or "sse-api@before" for the -before binary
	bin     string   // sse-api: the binary the instances run
	targets []string // host:port of each instance's API
	devs    []string // sse-api: host:port of each instance's DevServer (pprof, metrics)
	pids    []int
	procs   []*testinstance.Process // started by this run (none with -url), stopped by stop
	stdins  []io.WriteCloser
}

func (s *server) add(p *testinstance.Process, target string) {
	s.procs, s.pids, s.targets = append(s.procs, p), append(s.pids, p.Pid()), append(s.targets, target)
}

// startRef starts n reference servers (this executable, subcommand ref), bare or, with
// gozero, served by go-zero (named ref@go-zero in the results).
func startRef(n int, heartbeat time.Duration, gozero bool, maxConns int) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &server{kind: "ref", name: "ref"}
	args := []string{"ref", "-listen", "127.0.0.1:0", "-heartbeat", heartbeat.String()}
	if gozero {
		s.name = "ref@go-zero"
		args = append(args, "-gozero", "-max-conns", strconv.Itoa(maxConns))
	}
	for i := 0; i < n; i++ {
		cmd := exec.Command(self, args...)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		p := testinstance.NewProcess(cmd)
		if err := p.Start(); err != nil {
			s.stop()
			return nil, err
		}
		s.stdins = append(s.stdins, stdin)
		// Its first line is its address, printed once it listens.
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			p.Kill()
			s.stop()
			return nil, fmt.Errorf("ref server did not start: %v %s", err, p.Logs)
		}
		s.add(p, strings.TrimSpace(line))
		// go-zero listens after the line: wait until it answers.
		if err := waitHealthy(strings.TrimSpace(line), 10*time.Second); err != nil {
			s.stop()
			return nil, fmt.Errorf("ref server: %v %s", err, p.Logs)
		}
	}
	return s, nil
}

func waitHealthy(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer /healthz within %v: %v", addr, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startAPI starts -instances sse-api instances of -bin, each configured for its share of the
// streams, and waits until they serve.
func (b *bench) startAPI(bin, name string) (*server, error) {
	o := b.o
	perInstance := (o.n + o.instances - 1) / o.instances
	c := testinstance.Config{
		Name: "sse-api-bench", Secret: benchSecret, RedisAddr: b.redis, LogLevel: o.logLevel,
		// go-zero refuses requests past MaxConns with a bare 503, streams included.
		MaxConns: perInstance + 10000, MaxStreams: max(19000, perInstance),
		MaxStreamsPerUser: 1000000, AnonymousPerMinute: 1000000000,
		Heartbeat: o.heartbeat.String(), QueueSize: o.queue,
		QRTTL: "10m", QRConfirmWindow: "5m", QRRetention: "10m",
		QRCreatePerMinute: 1000000000, QRMissesPerMinute: 1000000000, QRScansPerMinute: 1000000000,
		Extra: b.config + strings.ReplaceAll(o.extra, `\n`, "\n"),
	}
	s := &server{kind: "sse-api", name: name, bin: bin}
	var insts []*testinstance.Instance
	for i := 0; i < o.instances; i++ {
		inst, err := testinstance.Launch(bin, b.tmp, c)
		if err != nil {
			s.stop()
			return nil, err
		}
		insts = append(insts, inst)
		s.add(inst.Process, inst.APIAddr)
		s.devs = append(s.devs, inst.DevAddr)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	for _, inst := range insts {
		if err := inst.WaitReady(ctx); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

// stop ends the instances: SIGTERM, then SIGKILL after 10 s.
func (s *server) stop() {
	if s == nil {
		return
	}
	for _, in := range s.stdins {
		in.Close()
	}
	var wg sync.WaitGroup
	for _, p := range s.procs {
		wg.Go(func() { p.Stop(10 * time.Second) })
	}
	wg.Wait()
}

// alive reports an instance that exited.
func (s *server) alive() error {
	for _, p := range s.procs {
		if p.Exited() {
			return fmt.Errorf("%s pid %d exited: %s", s.kind, p.Pid(), lastLines(p.Logs.String(), 5))
		}
	}
	return nil
}

// cpuProfile fetches a CPU profile of the first sse-api instance into file.
func (s *server) cpuProfile(ctx context.Context, seconds int, file string) error {
	return s.saveDebug(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds), file)
}

// heapProfile fetches a heap profile (after a GC) of the first sse-api instance into file.
func (s *server) heapProfile(file string) error {
	return s.saveDebug(context.Background(), "/debug/pprof/heap?gc=1", file)
}

// saveDebug saves what the first sse-api instance's DevServer answers at path into file.
func (s *server) saveDebug(ctx context.Context, path, file string) error {
	if len(s.devs) == 0 {
		return nil
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.devs[0]+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// redisServer is a private Redis started for the run, so that INFO commandstats counts the
// run's commands only and the run's load does not slow anyone else's tests.
type redisServer struct {
	*testinstance.Process
	addr string
}

func startRedis(args ...string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	port, err := testinstance.FreePort()
	if err != nil {
		return nil, err
	}
	// notice: the level of the line that says it listens.
	p := testinstance.NewProcess(exec.Command(bin, append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--maxclients", "10000", "--loglevel", "notice"}, args...)...))
	listening := p.Logs.Watch("Ready to accept connections")
	if err := p.Start(); err != nil {
		return nil, err
	}
	select {
	case <-listening:
		return &redisServer{Process: p, addr: fmt.Sprintf("127.0.0.1:%d", port)}, nil
	case <-p.Done():
		return nil, fmt.Errorf("redis-server exited at start: %s", p.Logs)
	case <-time.After(10 * time.Second):
		p.Kill()
		return nil, fmt.Errorf("redis-server did not start: %s", p.Logs)
	}
}

func (r *redisServer) stop() {
	if r != nil {
		r.Kill()
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runtimeFigures reads the Go runtime gauges of each instance's /metrics and sums them.
func (s *server) runtimeFigures() map[string]float64 {
	out := map[string]float64{}
	for i := range s.targets {
		url := "http://" + s.targets[i] + "/metrics"
		if s.kind == "sse-api" {
			if i >= len(s.devs) {
				return out
			}
			url = "http://" + s.devs[i] + "/metrics"
		}
		resp, err := http.Get(url)
		if err != nil {
			return out
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			name, v, ok := strings.Cut(sc.Text(), " ")
			switch name {
			case "go_goroutines", "go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes",
				"go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes":
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); ok && err == nil {
					out[strings.TrimPrefix(name, "go_")] += f
				}
			}
		}
		resp.Body.Close()
	}
	return out
}
