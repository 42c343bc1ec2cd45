package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/testinstance"
)

// The legacy service of the watch scenario's baseline: the endpoint a page polls today, which
// reads the page's key from Redis on every request.
//
//	GET /key/{name}   200 and the key's value; 404 when it is missing
//
// Bare net/http and go-redis, as lean as such a service gets (a go-zero service would add
// its middlewares to each poll).
func runLegacy(args []string) {
	fs := flag.NewFlagSet("legacy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on (loopback only)")
	addr := fs.String("redis", "", "Redis address (loopback only)")
	_ = fs.Parse(args)
	if !isLoopback(*listen) || !isLoopback(*addr) {
		fmt.Fprintln(os.Stderr, "legacy: -listen and -redis must be 127.0.0.0/8 addresses")
		os.Exit(2)
	}
	raiseNoFile()
	rdb := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: 64})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "legacy:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String()) // the orchestrator reads the address from the first line
	mux := http.NewServeMux()
	mux.HandleFunc("GET /key/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, err := rdb.Get(r.Context(), r.PathValue("name")).Result()
		switch {
		case errors.Is(err, redis.Nil):
			http.NotFound(w, r)
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, v)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { // stop when the orchestrator goes away
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	_ = srv.Serve(ln)
}

// startLegacy starts the legacy service (this executable, subcommand legacy) on redisAddr.
func startLegacy(redisAddr string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "legacy", "-listen", "127.0.0.1:0", "-redis", redisAddr)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	p := testinstance.NewProcess(cmd)
	if err := p.Start(); err != nil {
		return nil, err
	}
	s := &server{kind: "legacy", name: "legacy", stdins: []io.WriteCloser{stdin}}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("legacy service did not start: %v %s", err, p.Logs)
	}
	s.add(p, strings.TrimSpace(line))
	return s, nil
}
