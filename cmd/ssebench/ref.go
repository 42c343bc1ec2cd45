package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// The reference server: the floor a Go SSE server cannot go below without changing how it
// is built. Bare net/http, one goroutine (the handler's) and a 64-slot channel per stream,
// one write and one flush per event, a heartbeat ticker per stream, no framework, no
// Redis, no auth. Every run measures it next to sse-api, on the same machine at the same
// moment, and prints sse-api's figures as ratios of it.
//
//	GET  /events?topic=a      the stream: ": ok", an "id:" line once subscribed, then events
//	POST /publish?topic=a     body = data (one line); answers 201 once queued to every stream
//	GET  /healthz
//
// With -gozero the same handlers are served by a go-zero rest.Server as sse-api configures
// it (its default middlewares less the request log, the stream route WithSSE, a DevServer
// with metrics), and the stream's query is read with httpx.Parse, as a goctl handler does:
// the floor of a goctl route, which shows what the framework costs before any of sse-api's
// own code.

type refServer struct {
	heartbeat time.Duration

	mu     sync.RWMutex
	topics map[string]*refTopic
}

type refTopic struct {
	seq  int64
	subs map[chan []byte]struct{}
}

func runRef(args []string) {
	fs := flag.NewFlagSet("ref", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on (loopback only)")
	heartbeat := fs.Duration("heartbeat", 15*time.Second, "comment-line interval")
	gozero := fs.Bool("gozero", false, "serve through go-zero's rest.Server and its middlewares")
	maxConns := fs.Int("max-conns", 30000, "with -gozero: its MaxConns")
	_ = fs.Parse(args)
	if !isLoopback(*listen) {
		fmt.Fprintln(os.Stderr, "ref: -listen must be a 127.0.0.0/8 address")
		os.Exit(2)
	}
	raiseNoFile()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ref:", err)
		os.Exit(1)
	}
	// The orchestrator reads the address from the first line.
	fmt.Println(ln.Addr().String())
	s := &refServer{heartbeat: *heartbeat, topics: map[string]*refTopic{}}
	// Stop when the orchestrator goes away (its end of stdin closes).
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	if *gozero {
		s.serveGoZero(ln, *maxConns)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("POST /publish", s.publish)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /metrics", refMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	_ = srv.Serve(ln)
}

func (s *refServer) events(w http.ResponseWriter, r *http.Request) {
	s.stream(w, r, r.URL.Query().Get("topic"))
}

func (s *refServer) stream(w http.ResponseWriter, r *http.Request, name string) {
	fl := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "retry: 2000\n: ok\n\n")
	fl.Flush()

	ch := make(chan []byte, 64)
	s.mu.Lock()
	t := s.topics[name]
	if t == nil {
		t = &refTopic{subs: map[chan []byte]struct{}{}}
		s.topics[name] = t
	}
	t.subs[ch] = struct{}{}
	pos := t.seq
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(t.subs, ch)
		s.mu.Unlock()
	}()
	fmt.Fprintf(w, "id: %d\n\n", pos)
	fl.Flush()

	tick := time.NewTicker(s.heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := io.WriteString(w, ":\n\n"); err != nil {
				return
			}
			fl.Flush()
		case frame, ok := <-ch:
			if !ok {
				return // too slow: dropped
			}
			if _, err := w.Write(frame); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func (s *refServer) publish(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("topic")
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	t := s.topics[name]
	if t == nil {
		t = &refTopic{subs: map[chan []byte]struct{}{}}
		s.topics[name] = t
	}
	t.seq++
	id := t.seq
	frame := make([]byte, 0, len(data)+32)
	frame = append(frame, "id: "...)
	frame = strconv.AppendInt(frame, id, 10)
	frame = append(frame, "\ndata: "...)
	frame = append(frame, data...)
	frame = append(frame, "\n\n"...)
	for ch := range t.subs {
		select {
		case ch <- frame:
		default:
			delete(t.subs, ch)
			close(ch)
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "{\"id\":\"%d\"}", id)
}

// refMetrics answers the Go runtime figures sse-api's /metrics has under the same names, so
// that the run can break both servers' memory down alike.
func refMetrics(w http.ResponseWriter, r *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "go_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "go_memstats_heap_alloc_bytes %d\n", m.HeapAlloc)
	fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\n", m.HeapInuse)
	fmt.Fprintf(w, "go_memstats_stack_inuse_bytes %d\n", m.StackInuse)
	fmt.Fprintf(w, "go_memstats_sys_bytes %d\n", m.Sys)
}
