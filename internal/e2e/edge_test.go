package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/redistest"
)

// status GETs url and returns its status, or 0 when nothing answers.
func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// At SIGTERM the instance is no longer ready before its streams end, so a load balancer
// sends their reconnects elsewhere; /livez answers as long as the process serves.
func TestReadinessGoesDownAtSigtermBeforeStreamsEnd(t *testing.T) {
	a := start(t, settings{Extra: "Stream:\n  DrainWindow: 3s"})
	if got := status(a.Dev + "/readyz"); got != 200 {
		t.Fatalf("readyz %d before SIGTERM", got)
	}
	if got := status(a.Dev + "/livez"); got != 200 {
		t.Fatalf("livez %d", got)
	}
	tok := token(t, "rdy", nil, []string{"rdy:*"})
	var streams []*stream
	for i := 0; i < 5; i++ {
		s := mustOpen(t, a.Base+"/v1/events?topic="+redistest.Name("rdy:"), bearer(tok))
		s.waitPosition(t)
		streams = append(streams, s)
	}
	sigterm := time.Now()
	a.signal(syscall.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); status(a.Dev+"/readyz") != 503; {
		if time.Now().After(deadline) {
			t.Fatal("readyz still up 5s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond) // another process's state: nothing to wait on
	}
	notReadyAfter := time.Since(sigterm)
	open := 0
	for _, s := range streams {
		select {
		case <-s.Ended:
		default:
			open++
		}
	}
	if open == 0 {
		t.Fatal("every stream had ended before readiness went down")
	}
	for _, s := range streams {
		s.waitEnded(t)
	}
	t.Logf("FAULT shutdown-spread  streams=5 not_ready_after=%v open_then=%d all_ended_after=%v drain_window=3s",
		notReadyAfter.Round(time.Millisecond), open, time.Since(sigterm).Round(time.Millisecond))
}

// Stream opens are never shed: go-zero's shedder would answer them a bare 503, which an
// EventSource never retries. Plain routes still are, under the same CpuThreshold.
func TestStreamOpensAreNeverShed(t *testing.T) {
	// A threshold of 0.1% is always exceeded, so the shedder refuses whatever goes beyond
	// the concurrency it has seen the server sustain.
	a := start(t, settings{Extra: "CpuThreshold: 1"})
	tok := token(t, "shed", []string{"shed:*"}, []string{"shed:*"})
	topic := redistest.Name("shed:")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]map[int]int{"stream": {}, "publish": {}}
	record := func(kind string, code int) {
		mu.Lock()
		codes[kind][code]++
		mu.Unlock()
	}
	for i := 0; i < 40; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s := open(t, a.Base+"/v1/events?topic="+topic, bearer(tok))
			record("stream", s.Resp.StatusCode)
			s.Close()
		}()
		go func() {
			defer wg.Done()
			code, _ := call(t, http.MethodPost, a.Base+"/v1/topics/"+topic+"/events", tok, map[string]any{"data": 1})
			record("publish", code)
		}()
	}
	wg.Wait()
	t.Logf("FAULT shedder  stream_opens=40 stream_refusals=%d publishes=40 acked=%d publish_refusals=%d stream_codes=%v publish_codes=%v (CpuThreshold 0.1%%)",
		40-codes["stream"][200], codes["publish"][201], 40-codes["publish"][201], codes["stream"], codes["publish"])
	if len(codes["stream"]) != 1 || codes["stream"][200] != 40 {
		t.Fatalf("stream opens answered %v, want 40 × 200", codes["stream"])
	}
	for code := range codes["publish"] {
		if code != 201 && code != 503 {
			t.Fatalf("publishes answered %v", codes["publish"])
		}
	}
}

// A request body that trickles in is cut off within the request timeout instead of holding
// its connection, even though the stream groups' timeout of 0 clears the server's
// ReadTimeout; the instance keeps serving.
func TestTricklingBodiesAreCutOff(t *testing.T) {
	// go-zero's breaker, tripped by the timeouts, reads its window unlocked when it logs
	// (a race in go-zero 1.10.3 the race detector reports); it is not what this test is about.
	a := start(t, settings{Timeout: 1000, Extra: "Middlewares:\n  Log: false\n  Breaker: false"})
	tok := token(t, "slow", []string{"slow:*"}, nil)
	const n = 300
	host := strings.TrimPrefix(a.Base, "http://")
	type cutOff struct {
		after  time.Duration
		answer string // the status line's code, or "none" when the server only closed
	}
	done := make(chan cutOff, n)
	begin := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			conn, err := net.Dial("tcp", host)
			if err != nil {
				done <- cutOff{after: -1}
				return
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /v1/topics/slow:x/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
				"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"data\":", tok)
			// Never send the rest: the server must give up on its own.
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			answer, _ := io.ReadAll(conn) // until the server closes the connection
			code := "none"
			if f := strings.Fields(string(answer)); len(f) > 1 && strings.HasPrefix(f[0], "HTTP/") {
				code = f[1]
			}
			done <- cutOff{time.Since(begin), code}
		}()
	}
	var slowest time.Duration
	answers := map[string]int{}
	for i := 0; i < n; i++ {
		d := <-done
		if d.after < 0 {
			t.Fatal("could not connect")
		}
		slowest = max(slowest, d.after)
		answers[d.answer]++
	}
	if slowest > 10*time.Second {
		t.Fatalf("a trickling body held its connection for %v (request timeout 1s)", slowest)
	}
	t.Logf("FAULT slow-bodies  trickling=300 cut_off=300 answers=%v last_after=%v timeout=1s", answers, slowest.Round(time.Millisecond))
	// Still serving.
	if code, out := call(t, http.MethodPost, a.Base+"/v1/topics/slow:x/events", tok, map[string]any{"data": 1}); code != 201 {
		t.Fatalf("publish after the trickle: %d %v", code, out)
	}
}

// Clients that stop reading while megabytes of events are published are disconnected
// within Stream.WriteTimeout, without delaying the others; SIGTERM with such clients still
// ends within the drain window.
func TestStuckReadersAreDisconnectedAndDoNotHoldShutdown(t *testing.T) {
	a := start(t, settings{Extra: "Stream:\n  WriteTimeout: 1s\n  DrainWindow: 1s", QueueSize: 100000})
	tok := token(t, "stuck", []string{"stuck:*"}, []string{"stuck:*"})
	topic := redistest.Name("stuck:")
	host := strings.TrimPrefix(a.Base, "http://")
	var stuck []net.Conn
	for i := 0; i < 20; i++ {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A small receive buffer, and never a read after the headers.
		_ = conn.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(conn, "GET /v1/events?topic=%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", topic, tok)
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.Contains(line, "200") {
			t.Fatalf("stuck reader's open: %q %v", line, err)
		}
		stuck = append(stuck, conn)
	}
	healthy := mustOpen(t, a.Base+"/v1/events?topic="+topic, bearer(tok))
	healthy.waitPosition(t)
	big := strings.Repeat("x", 60000)
	published := 0
	for metric(t, a, "sse_open_streams") > 1 { // until every stuck reader is gone
		id := publishEvent(t, a.Base, tok, topic, big)
		published++
		// The healthy one keeps up, however the others fare: each event, once, in order.
		if ev := healthy.next(t); ev.ID != id {
			t.Fatalf("healthy stream: event %q after publishing %q", ev.ID, id)
		}
		if published > 2000 {
			t.Fatal("stuck readers still connected after 120 MB")
		}
	}
	if got := metric(t, a, `sse_streams_ended_total{reason="write_timeout"}`); got != 20 {
		t.Fatalf("write timeouts counted: %v, want 20", got)
	}
	t.Logf("FAULT slow-readers  stuck=20 disconnected=20 write_timeout=1s acked=%d (60 kB each) healthy_delivered=%d lost=0 duplicated=0",
		published, published)

	// New stuck readers, then SIGTERM: the process still exits within the drain window.
	for i := 0; i < 10; i++ {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(conn, "GET /v1/events?topic=%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", topic, tok)
	}
	for i := 0; i < 30; i++ {
		publishEvent(t, a.Base, tok, topic, big)
	}
	sent := time.Now()
	a.signal(syscall.SIGTERM)
	select {
	case <-a.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not exit with stuck readers connected")
	}
	t.Logf("FAULT slow-readers-sigterm  stuck=10 drain_window=1s exited_after=%v", time.Since(sent).Round(time.Millisecond))
}

// metric reads one series of an instance's metrics (name and labels as exposed).
func metric(t *testing.T, a *instance, name string) float64 {
	t.Helper()
	resp, err := http.Get(a.Dev + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var v float64
		if strings.HasPrefix(sc.Text(), name+" ") {
			fmt.Sscan(strings.TrimPrefix(sc.Text(), name+" "), &v)
			return v
		}
	}
	return 0
}

// A passing refusal (over a limit) is answered to an EventSource so that it tries again by
// itself: 200, a retry delay, an error event; a client that asked for JSON gets the 429.
func TestPassingRefusalsAreRetriedByEventSource(t *testing.T) {
	a := start(t, settings{MaxStreamsPerUser: 1, Extra: "Stream:\n  RefusalRetry: 1s"})
	tok := token(t, "ref", nil, []string{"ref:*"})
	url := a.Base + "/v1/events?topic=" + redistest.Name("ref:")
	mustOpen(t, url, bearer(tok)).waitPosition(t)
	expectError(t, get(t, url, bearer(tok)), 429, "rate_limited")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Refusal-Status") != "429" {
		t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
	}
	text := string(body)
	if !strings.Contains(text, "\nretry: ") || !strings.Contains(text, "event: error\ndata: {\"code\":\"rate_limited\"") ||
		!strings.Contains(text, `"status":429`) || strings.Contains(text, "\nid:") {
		t.Fatalf("refusal stream:\n%s", text)
	}
}
