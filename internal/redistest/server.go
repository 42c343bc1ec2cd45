package redistest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartTimeout bounds how long a redis-server process may take to answer PING after it is
// started (or restarted: loading an AOF counts).
const StartTimeout = 15 * time.Second

// Options shape one redis-server process started by StartServer.
type Options struct {
	// AOF turns on the append-only file (appendonly yes), kept across Kill and Restart in the
	// server's directory. Without it the server persists nothing.
	AOF bool
	// Fsync is the appendfsync policy with AOF: "always", "everysec" (empty) or "no".
	Fsync string
	// Password is required of clients (requirepass); Client and the readiness probe use it.
	Password string
	// TLS makes the server listen with TLS only, with these certificates.
	TLS *TLSFiles
	// Args are more redis-server arguments, e.g. "--maxmemory", "10mb".
	Args []string
}

// Server is a redis-server process on a loopback port, in a directory of its own. It is
// killed when the test ends, and its log is printed if the test failed. Its methods fail
// the test they are given; call them from that test's goroutine.
type Server struct {
	Name string // for messages: "standalone", "node-2", "sentinel-1"...
	Port int
	Dir  string

	args func(port int) []string // the command line, for a given port
	tls  *tls.Config
	pass string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	admin  *redis.Client // for Do
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// StartServer starts a standalone redis-server for t, without persistence unless o asks.
func StartServer(t testing.TB, o Options) *Server {
	t.Helper()
	s := newServer(t, "standalone", o.Password, o.TLS)
	s.args = func(port int) []string {
		args := baseArgs(s.Dir)
		if o.TLS != nil {
			args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port),
				"--tls-cert-file", o.TLS.CertFile, "--tls-key-file", o.TLS.KeyFile,
				"--tls-ca-cert-file", o.TLS.CAFile, "--tls-auth-clients", "optional")
		} else {
			args = append(args, "--port", strconv.Itoa(port))
		}
		if o.AOF {
			fsync := o.Fsync
			if fsync == "" {
				fsync = "everysec"
			}
			args = append(args, "--appendonly", "yes", "--appendfsync", fsync)
		}
		if o.Password != "" {
			args = append(args, "--requirepass", o.Password)
		}
		return append(args, o.Args...)
	}
	s.startFresh(t, nil)
	return s
}

// newServer prepares a server's directory and the clean-up that stops it; the caller sets
// args and starts it.
func newServer(t testing.TB, name, password string, files *TLSFiles) *Server {
	t.Helper()
	requireRedisServer(t)
	s := &Server{Name: name, Dir: t.TempDir(), pass: password}
	if files != nil {
		s.tls = files.ClientConfig()
	}
	// Registered after TempDir, so it runs first: the process is gone before its
	// directory is removed.
	t.Cleanup(func() {
		s.kill()
		if s.admin != nil {
			_ = s.admin.Close()
		}
		if t.Failed() {
			t.Logf("--- %s (%s) log, last lines:\n%s", s.Name, s.Addr(), s.LogTail(40))
		}
	})
	return s
}

// baseArgs are the settings every process shares: loopback only, no persistence, fast
// replication (diskless, no delay). The log goes to stdout, which start keeps in a file.
func baseArgs(dir string) []string {
	return []string{
		"--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
		"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
		"--shutdown-timeout", "1", "--enable-debug-command", "local",
	}
}

// startFresh starts the server on a free port (and free extra ports: a Cluster bus), trying
// other ports when one was taken between choosing it and binding it.
func (s *Server) startFresh(t testing.TB, busPort *int) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		s.Port = FreePort(t)
		if busPort != nil {
			*busPort = FreePort(t)
		}
		if err = s.start(); err == nil {
			return
		}
		if !strings.Contains(s.LogTail(20), "Address already in use") {
			break
		}
	}
	t.Fatalf("redistest: %s did not start: %v\n%s", s.Name, err, s.LogTail(40))
}

// start runs the process on s.Port and waits until it answers PING.
func (s *Server) start() error {
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("redis-server", s.args(s.Port)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = s.Dir, log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	probe := s.newClient(200 * time.Millisecond)
	defer probe.Close()
	deadline := time.Now().Add(StartTimeout)
	for {
		// A bare TCP connect first: go-redis logs every refused dial.
		if err = tcpReachable(s.Addr()); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			err = probe.Ping(ctx).Err()
			cancel()
			if err == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited (%s)", cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("no PONG within %s: %w", StartTimeout, err)
		}
	}
}

// Client returns a client of this server alone, closed when t ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := s.newClient(time.Second)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) newClient(timeout time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: s.Addr(), Password: s.pass, TLSConfig: s.tls,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		MaxRetries: -1, DialerRetries: 1, PoolSize: 4, ContextTimeoutEnabled: true,
	})
}

// Do runs one command on this server alone, bounded by 2 s. The helpers poll with it, so
// it keeps its connections rather than leave thousands in TIME_WAIT.
func (s *Server) Do(args ...any) (any, error) {
	s.mu.Lock()
	if s.admin == nil {
		s.admin = s.newClient(time.Second)
	}
	c := s.admin
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Do(ctx, args...).Result()
}

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Kill ends the process with SIGKILL, as a crash or an OOM kill would: nothing is flushed.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if !s.Running() {
		t.Fatalf("redistest: Kill: %s is not running", s.Name)
	}
	s.kill()
}

// Stop shuts the server down cleanly (SIGTERM: it flushes its AOF and exits).
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if !s.Running() {
		t.Fatalf("redistest: Stop: %s is not running", s.Name)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		s.kill()
		t.Fatalf("redistest: %s did not exit within 10 s of SIGTERM\n%s", s.Name, s.LogTail(20))
	}
}

// Restart starts a stopped or killed server again on the same port, with the same
// directory (its AOF, its Cluster or Sentinel state) and arguments, and waits until it
// answers (after loading its data).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.Running() {
		t.Fatalf("redistest: Restart: %s is still running", s.Name)
	}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: %s did not restart on port %d: %v\n%s", s.Name, s.Port, err, s.LogTail(40))
	}
}

// Pause stops the process with SIGSTOP: it keeps its port and connections but answers
// nothing, like a hung server or a network partition. Resume undoes it.
func (s *Server) Pause(t testing.TB) { t.Helper(); s.signal(t, syscall.SIGSTOP) }

// Resume continues a paused process.
func (s *Server) Resume(t testing.TB) { t.Helper(); s.signal(t, syscall.SIGCONT) }

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if !s.Running() {
		t.Fatalf("redistest: %s is not running", s.Name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("redistest: signal %v to %s: %v", sig, s.Name, err)
	}
}

// kill SIGKILLs the process and what it forked (its process group), and waits for it.
func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	killGroup(cmd.Process.Pid)
	_ = cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

func (s *Server) logPath() string { return filepath.Join(s.Dir, "redis.log") }

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func tcpReachable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err == nil {
		_ = c.Close()
	}
	return err
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	lookOnce sync.Once
	lookErr  error
)

// requireRedisServer fails t when redis-server and redis-cli are not installed and
// SSE_REQUIRE_REDIS=1, and skips it otherwise.
func requireRedisServer(t testing.TB) {
	t.Helper()
	lookOnce.Do(func() {
		for _, bin := range []string{"redis-server", "redis-cli"} {
			if _, err := exec.LookPath(bin); err != nil {
				lookErr = errors.Join(lookErr, err)
			}
		}
	})
	if lookErr == nil {
		return
	}
	if os.Getenv("SSE_REQUIRE_REDIS") == "1" {
		t.Fatalf("redistest: this test starts Redis processes: %v", lookErr)
	}
	t.Skipf("redistest: this test starts Redis processes and they are not installed: %v", lookErr)
}

// WaitFor polls cond every 20 ms until it returns nil, and fails t with cond's last error
// if that takes longer than within.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	if err := poll(within, cond); err != nil {
		t.Fatalf("redistest: %s: not within %s: %v", what, within, err)
	}
}

// poll calls cond every 20 ms until it returns nil, or returns its last error once within
// has passed.
func poll(within time.Duration, cond func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
