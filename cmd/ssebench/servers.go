package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

// server is the processes of one server kind under test: the reference or sse-api, one or
// more instances.
type server struct {
	kind    string   // "ref" or "sse-api"
	targets []string // host:port of each instance's API
	devs    []string // sse-api: host:port of each instance's DevServer (pprof, metrics)
	pids    []int
	cmds    []*exec.Cmd
	done    []chan struct{} // closed when the instance exited
	stdins  []io.WriteCloser
	logs    []*tailBuffer
	extern  bool // not started by us: never stopped
}

// tailBuffer keeps the first 256 KiB and the last 512 KiB to 1 MiB a process wrote, for error
// messages: how trouble started, and how it ended.
type tailBuffer struct {
	mu   sync.Mutex
	head []byte
	buf  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	written := len(p)
	if n := min(len(p), 256<<10-len(t.head)); n > 0 {
		t.head = append(t.head, p[:n]...)
		p = p[n:]
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > 1<<20 {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-512<<10:]...)
	}
	return written, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.head) + string(t.buf)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRef starts n reference servers (this executable, subcommand ref).
func startRef(n int, heartbeat time.Duration) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &server{kind: "ref"}
	for i := 0; i < n; i++ {
		cmd := exec.Command(self, "ref", "-listen", "127.0.0.1:0", "-heartbeat", heartbeat.String())
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		logs := &tailBuffer{}
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			s.stop()
			return nil, err
		}
		s.track(cmd, logs)
		s.stdins = append(s.stdins, stdin)
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("ref server did not start: %v %s", err, logs)
		}
		s.targets = append(s.targets, strings.TrimSpace(line))
	}
	return s, s.waitHealthy()
}

var apiConfig = template.Must(template.New("config").Parse(`Name: sse-api-bench
Host: 127.0.0.1
Port: {{.Port}}
Timeout: 3000
# go-zero refuses requests past MaxConns (default 10000) with a bare 503, streams included.
MaxConns: {{.MaxConns}}
Log:
  Encoding: plain
  Level: {{.LogLevel}}
  Stat: false
Middlewares:
  Log: false
Shutdown:
  WrapUpTime: 1s
  WaitTime: 5s
DevServer:
  Enabled: true
  Host: 127.0.0.1
  Port: {{.DevPort}}
Auth:
  AccessSecret: {{.Secret}}
Redis:
  Addr: {{.Redis}}
Stream:
  Heartbeat: {{.Heartbeat}}
  QueueSize: {{.QueueSize}}
Limits:
  MaxStreams: {{.MaxStreams}}
  MaxStreamsPerUser: 1000000
  AnonymousPerMinute: 1000000000
QRLogin:
  TTL: 10m
  ConfirmWindow: 5m
  Retention: 10m
  CreatePerMinute: 1000000000
  MissesPerMinute: 1000000000
{{.Extra}}
`))

type apiSettings struct {
	Port, DevPort        int
	MaxConns, MaxStreams int
	LogLevel, Secret     string
	Redis                string
	Heartbeat            time.Duration
	QueueSize            int
	Extra                string
}

// startAPI starts n sse-api instances of bin, each configured for perInstance streams.
func startAPI(bin string, n, perInstance int, redisAddr, logLevel string, heartbeat time.Duration, queue int, extra, dir string) (*server, error) {
	s := &server{kind: "sse-api"}
	for i := 0; i < n; i++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		dev, err := freePort()
		if err != nil {
			return nil, err
		}
		set := apiSettings{
			Port: port, DevPort: dev,
			MaxConns: perInstance + 10000, MaxStreams: max(19000, perInstance),
			LogLevel: logLevel, Secret: benchSecret, Redis: redisAddr,
			Heartbeat: heartbeat, QueueSize: queue, Extra: extra,
		}
		var buf bytes.Buffer
		if err := apiConfig.Execute(&buf, set); err != nil {
			return nil, err
		}
		cfg := filepath.Join(dir, fmt.Sprintf("sse-api-%d.yaml", i))
		if err := os.WriteFile(cfg, buf.Bytes(), 0o600); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "-f", cfg)
		logs := &tailBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			s.stop()
			return nil, err
		}
		s.track(cmd, logs)
		s.targets = append(s.targets, fmt.Sprintf("127.0.0.1:%d", port))
		s.devs = append(s.devs, fmt.Sprintf("127.0.0.1:%d", dev))
	}
	return s, s.waitHealthy()
}

func (s *server) track(cmd *exec.Cmd, logs *tailBuffer) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmds, s.pids, s.logs, s.done = append(s.cmds, cmd), append(s.pids, cmd.Process.Pid), append(s.logs, logs), append(s.done, done)
}

func (s *server) exited(i int) bool {
	if i >= len(s.done) {
		return false
	}
	select {
	case <-s.done[i]:
		return true
	default:
		return false
	}
}

// waitHealthy waits until every instance answers its health check and accepts connections.
func (s *server) waitHealthy() error {
	deadline := time.Now().Add(30 * time.Second)
	for i, t := range s.targets {
		url := "http://" + t + "/healthz"
		if s.kind == "sse-api" {
			url = "http://" + s.devs[i] + "/healthz"
		}
		for {
			resp, err := http.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					if c, err := net.Dial("tcp", t); err == nil {
						c.Close()
						break
					}
				}
			}
			if s.exited(i) {
				return fmt.Errorf("%s exited at start: %s", s.kind, s.logs[i])
			}
			if time.Now().After(deadline) {
				msg := ""
				if i < len(s.logs) {
					msg = s.logs[i].String()
				}
				s.stop()
				return fmt.Errorf("%s %s did not become healthy: %s", s.kind, t, msg)
			}
			time.Sleep(50 * time.Millisecond) // waiting for a process to start listening
		}
	}
	return nil
}

// stop ends the instances: SIGTERM, then SIGKILL after 10 s.
func (s *server) stop() {
	if s == nil || s.extern {
		return
	}
	for _, in := range s.stdins {
		in.Close()
	}
	for _, c := range s.cmds {
		if c.Process != nil {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
	}
	for i, c := range s.cmds {
		select {
		case <-s.done[i]:
		case <-time.After(10 * time.Second):
			_ = c.Process.Kill()
			<-s.done[i]
		}
	}
}

// alive reports an instance that exited.
func (s *server) alive() error {
	for i := range s.done {
		if s.exited(i) {
			return fmt.Errorf("%s pid %d exited: %s", s.kind, s.pids[i], lastLines(s.logs[i].String(), 5))
		}
	}
	return nil
}

// cpuProfile fetches a CPU profile of the first sse-api instance into file.
func (s *server) cpuProfile(ctx context.Context, seconds int, file string) error {
	if len(s.devs) == 0 {
		return nil
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.devs[0], seconds)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
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

// heapProfile fetches a heap profile (after a GC) of the first sse-api instance into file.
func (s *server) heapProfile(file string) error {
	if len(s.devs) == 0 {
		return nil
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", s.devs[0]))
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
	addr string
	cmd  *exec.Cmd
}

func startRedis() (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--maxclients", "10000", "--loglevel", "warning")
	logs := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &redisServer{addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			c.Close()
			return r, nil
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server did not start: %s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	if r == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
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
