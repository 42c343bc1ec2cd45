// Package testinstance starts sse-api processes for the end-to-end tests (internal/e2e) and
// the load tool (cmd/ssebench): it builds the binary, renders the instance config template
// (instance.yaml, which browsertest/harness.mjs renders too), starts instances on free
// loopback ports with their output kept in bounded logs, waits until they serve, and stops
// them.
package testinstance

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// MainPackage is the sse-api command.
const MainPackage = "github.com/sseapi/sse-api"

// Build compiles MainPackage into the file out, with the race detector if race. It runs
// the go command in the current directory, which must be inside the sse-api module.
func Build(ctx context.Context, out string, race bool) error {
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, MainPackage)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", MainPackage, err, msg)
	}
	return nil
}

// Main is what TestMain does in a package whose tests start instances: it builds sse-api
// (with the race detector if race) into a temporary directory, sets *bin to it, runs the
// tests (run is m.Run) and exits with their code.
func Main(run func() int, race bool, bin *string) {
	dir, err := os.MkdirTemp("", "sse-api-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "sse-api")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	err = Build(ctx, *bin, race)
	cancel()
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "building sse-api:", err)
	} else {
		code = run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// FreePort returns a loopback TCP port that nobody listened on a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

const (
	// startedLine is what sseapi.go prints right before the API opens its listener.
	startedLine = "Starting server at "
	raceLine    = "WARNING: DATA RACE"
)

// Instance is one sse-api process.
type Instance struct {
	*Process
	APIAddr    string // host:port of the API
	DevAddr    string // host:port of the DevServer (/healthz, /metrics, /debug/pprof)
	ConfigPath string
	started    <-chan struct{}
	raced      <-chan struct{}
}

// Launch writes c's config into dir (free ports where c has none) and starts bin with it,
// without waiting for it to serve.
func Launch(bin, dir string, c Config) (*Instance, error) {
	for _, port := range []*int{&c.Port, &c.DevPort} {
		if *port == 0 {
			free, err := FreePort()
			if err != nil {
				return nil, err
			}
			*port = free
		}
	}
	text, err := c.Render()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, fmt.Sprintf("sse-api-%d.yaml", c.Port))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return nil, err
	}
	return LaunchFile(bin, path, fmt.Sprintf("127.0.0.1:%d", c.Port), fmt.Sprintf("127.0.0.1:%d", c.DevPort))
}

// LaunchFile starts bin with a config file of the caller's (the production one, say), whose
// API and DevServer answer at apiAddr and devAddr, with env added to the process's
// environment, without waiting for it to serve.
func LaunchFile(bin, configPath, apiAddr, devAddr string, env ...string) (*Instance, error) {
	i := &Instance{APIAddr: apiAddr, DevAddr: devAddr, ConfigPath: configPath}
	cmd := exec.Command(bin, "-f", configPath)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	i.Process = NewProcess(cmd)
	i.started, i.raced = i.Logs.Watch(startedLine), i.Logs.Watch(raceLine)
	if err := i.Start(); err != nil {
		return nil, err
	}
	return i, nil
}

// Start is Launch, then WaitReady; an instance that does not become ready is killed.
func Start(ctx context.Context, bin, dir string, c Config) (*Instance, error) {
	i, err := Launch(bin, dir, c)
	if err != nil {
		return nil, err
	}
	if err := i.WaitReady(ctx); err != nil {
		i.Kill()
		return nil, err
	}
	return i, nil
}

// WaitReady waits until the instance serves: it has said it is starting, its API and
// DevServer accept connections, and its health check (readiness: Redis answers, the pub/sub
// link is up) passes. It fails when the process exits first or ctx ends.
func (i *Instance) WaitReady(ctx context.Context) error {
	select {
	case <-i.started:
	case <-i.Done():
		return fmt.Errorf("sse-api exited at start (code %d):\n%s", i.ExitCode(), i.Logs)
	case <-ctx.Done():
		return fmt.Errorf("sse-api did not start (%v):\n%s", ctx.Err(), i.Logs)
	}
	for _, addr := range []string{i.APIAddr, i.DevAddr} {
		if err := i.accepting(ctx, addr); err != nil {
			return fmt.Errorf("sse-api at %s: %v:\n%s", addr, err, i.Logs)
		}
	}
	// Redis answered at start already (the service pings it before serving), but /healthz
	// (readiness) also wants the pub/sub link, which connects in the background: wait for it,
	// bounded by ctx and by the exit.
	for {
		status, body, err := i.health(ctx)
		if err == nil && status == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("sse-api health check: %v:\n%s", err, i.Logs)
			}
			return fmt.Errorf("sse-api health check: %d %s:\n%s", status, body, i.Logs)
		case <-i.Done():
			return fmt.Errorf("sse-api exited at start (code %d):\n%s", i.ExitCode(), i.Logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// health is one call of the DevServer's /healthz.
func (i *Instance) health(ctx context.Context) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+i.DevAddr+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, nil
}

// accepting waits until addr accepts a connection. The started line comes right before the
// API opens its listener (the DevServer's opens in a goroutine started before it), and
// nothing is printed once they listen, so the one thing left to wait on is the port: the
// gap is the time it takes to register the routes, milliseconds. A refused dial comes back
// at once, so it is retried every few milliseconds, bounded by ctx and by the exit.
func (i *Instance) accepting(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return err
		case <-i.Done():
			return fmt.Errorf("exited (code %d)", i.ExitCode())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Raced reports whether the race detector has reported a race in the instance.
func (i *Instance) Raced() bool { return seen(i.raced) }
