package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/redistest"
)

// go-zero's timeout middleware spares only requests whose Accept is exactly
// text/event-stream; streams must outlive the timeout whatever the client sends, while
// plain routes keep timing out.
func TestStreamsOutliveTheTimeoutWhateverTheAcceptHeader(t *testing.T) {
	a := start(t, settings{Timeout: 300, Heartbeat: "50ms"})
	tok := token(t, "fay", []string{"slow:*"}, []string{"slow:*"})
	for _, accept := range []string{"*/*", "", "text/event-stream", "text/event-stream, */*", "application/json"} {
		t.Run("Accept="+accept, func(t *testing.T) {
			topic := redistest.Name("slow:")
			req, _ := http.NewRequest(http.MethodGet, a.Base+"/v1/events?topic="+topic, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			if accept == "" {
				req.Header["Accept"] = nil
			} else {
				req.Header.Set("Accept", accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			lines := rawLines(resp.Body)
			// Twelve heartbeats of 50ms: the stream has lived twice the 300ms timeout.
			for beats := 0; beats < 12; {
				line, ok := <-lines
				if !ok {
					t.Fatalf("stream closed after %d heartbeats", beats)
				}
				if line == ":" {
					beats++
				}
			}
			publishEvent(t, a.Base, tok, topic, "still here")
			for line := range lines {
				if line == `data: "still here"` {
					return
				}
			}
			t.Fatal("stream closed before the event arrived")
		})
	}
}

func TestPlainRoutesStillTimeOut(t *testing.T) {
	if redistest.Embedded() {
		t.Skip("needs a real Redis to pause (CI always has one)")
	}
	a := start(t, settings{Timeout: 300})
	tok := token(t, "gus", []string{"paused:*"}, nil)
	rdb := redistest.Client(t)
	// Hold every write in Redis, so a publish cannot finish within the timeout.
	if err := rdb.Do(context.Background(), "CLIENT", "PAUSE", "3000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	defer rdb.Do(context.Background(), "CLIENT", "UNPAUSE")
	started := time.Now()
	req, _ := http.NewRequest(http.MethodPost, a.Base+"/v1/topics/"+redistest.Name("paused:")+"/events", strings.NewReader(`{"data":1}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "*/*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 from the timeout", resp.StatusCode)
	}
	if waited := time.Since(started); waited > 2*time.Second {
		t.Fatalf("answered after %v: the pause, not the 300ms timeout, ended the request", waited)
	}
}

func TestSigtermEndsStreamsAtOnce(t *testing.T) {
	a := start(t, settings{}) // Shutdown.WaitTime is 30s: a force-kill cannot be what ends them
	tok := token(t, "hal", nil, []string{"term:*"})
	var streams []*stream
	for i := 0; i < 3; i++ {
		s := mustOpen(t, a.Base+"/v1/events?topic="+redistest.Name("term:"), bearer(tok))
		s.waitPosition(t)
		streams = append(streams, s)
	}
	sent := time.Now()
	a.signal(syscall.SIGTERM)
	for _, s := range streams {
		select {
		case <-s.Ended:
		case <-time.After(5 * time.Second):
			t.Fatal("a stream was still open 5s after SIGTERM")
		}
	}
	select {
	case <-a.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not exit after its streams ended")
	}
	if !strings.Contains(a.Logs.String(), "all streams ended") {
		t.Fatalf("no shutdown log:\n%s", a.Logs)
	}
	t.Logf("streams ended and the process exited %v after SIGTERM", time.Since(sent))
}

func TestVerboseIsRefusedAtStart(t *testing.T) {
	a := launch(t, settings{Verbose: true})
	select {
	case <-a.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("started with Verbose: true")
	}
	if a.ExitCode() == 0 || !strings.Contains(a.Logs.String(), "Verbose: true is not supported") {
		t.Fatalf("exit %d, logs:\n%s", a.ExitCode(), a.Logs)
	}
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

func goroutines(t *testing.T, a *instance) int {
	t.Helper()
	resp, err := http.Get(a.Dev + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head, _ := bufio.NewReader(resp.Body).ReadString('\n')
	m := goroutineTotal.FindStringSubmatch(head)
	if m == nil {
		t.Fatalf("goroutine profile: %q", head)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestNoGoroutineOutlivesItsStream(t *testing.T) {
	a := start(t, settings{})
	tok := token(t, "ivy", []string{"leak:*"}, []string{"leak:*"})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	openOne := func(topic string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+"/v1/events?topic="+topic, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("open: %v %v", err, resp)
		}
		// Wait for the opening bytes: the stream is fully set up.
		if _, err := io.ReadFull(resp.Body, make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		return resp, cancel
	}
	// Warm up whatever is created once (the pub/sub link, pools).
	resp, cancel := openOne(redistest.Name("leak:"))
	cancel()
	resp.Body.Close()
	baseline := waitGoroutines(t, a, func(n int) bool { return true })

	var cancels []context.CancelFunc
	for i := 0; i < 20; i++ {
		resp, cancel := openOne(redistest.Name("leak:"))
		defer resp.Body.Close()
		cancels = append(cancels, cancel)
	}
	if open := goroutines(t, a); open < baseline+20 {
		t.Fatalf("%d goroutines with 20 streams open, baseline %d: the count does not see streams", open, baseline)
	}
	for _, c := range cancels {
		c()
	}
	waitGoroutines(t, a, func(n int) bool { return n <= baseline })
}

// waitGoroutines polls the count until ok, after letting it settle; it fails after 10s.
func waitGoroutines(t *testing.T, a *instance, ok func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	prev := -1
	for {
		n := goroutines(t, a)
		if n == prev && ok(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d (previous reading %d)", n, prev)
		}
		prev = n
		time.Sleep(50 * time.Millisecond) // the server tears connections down asynchronously
	}
}

func TestHealthAndMetrics(t *testing.T) {
	a := start(t, settings{})
	tok := token(t, "jay", []string{"m:*"}, []string{"m:*"})
	topic := redistest.Name("m:")
	s := mustOpen(t, a.Base+"/v1/events?topic="+topic, bearer(tok))
	s.waitPosition(t)
	publishEvent(t, a.Base, tok, topic, 1)
	s.next(t)
	resp, err := http.Get(a.Dev + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"sse_open_streams 1", "sse_events_published_total 1", "sse_events_delivered_total 1",
		"sse_slow_consumer_disconnects_total 0", `sse_delivery_lag_seconds_bucket{le="0.001"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	resp, err = http.Get(a.Dev + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
}

func TestCorsOnlyForListedOrigins(t *testing.T) {
	a := start(t, settings{Extra: "CorsOrigins: [https://app.example.com]"})
	preflight := func(origin string) http.Header {
		req, _ := http.NewRequest(http.MethodOptions, a.Base+"/v1/events?topic=public:x", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "last-event-id")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	h := preflight("https://app.example.com")
	if h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(strings.Join(h.Values("Access-Control-Allow-Headers"), ","), "Last-Event-ID") {
		t.Fatalf("allowed origin's preflight: %v", h)
	}
	if got := preflight("https://evil.example").Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("another origin allowed: %q", got)
	}
}
