package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest/httpx"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

func init() {
	httpx.SetErrorHandlerCtx(apierr.Handle)
	logx.Disable() // panics and ends are logged on purpose here
}

// loop is the loop every forwarding stream runs.
func loop(ctx context.Context, sub *Subscription) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case batch := <-sub.Events():
			if err := sub.Send(batch); err != nil {
				return err
			}
		}
	}
}

// forward is the logic of a plain stream of plan.
func forward(plan Plan) func(*Stream) error {
	return func(s *Stream) error {
		sub, err := s.Subscribe(func() (Plan, error) { return plan, nil })
		if err != nil {
			return err
		}
		return loop(s.Context(), sub)
	}
}

type fixture struct {
	rt   *Runtime
	pub  *publish.Publisher
	srv  *httptest.Server
	ends chan error // the cause each stream's context ended with
}

// serve runs logic for every request on a test server with a runtime of its own.
func serve(t *testing.T, c Config, logic func(*Stream) error) *fixture {
	t.Helper()
	rdb := redistest.Client(t)
	hub := broker.NewHub(rdb, broker.Options{QueueSize: 64})
	t.Cleanup(func() { _ = hub.Close() })
	if c.Retry == 0 {
		c.Retry = 50 * time.Millisecond
	}
	f := &fixture{rt: New(hub, c), pub: publish.New(rdb, publish.Options{}), ends: make(chan error, 64)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.rt.Serve(w, r, "Test", func(s *Stream) error {
			context.AfterFunc(s.Context(), func() { f.ends <- context.Cause(s.Context()) })
			return logic(s)
		})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) get(t *testing.T, path string, header http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// lines reads a response's lines as they come.
func lines(body io.Reader) <-chan string {
	out := make(chan string, 1024)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			out <- sc.Text()
		}
	}()
	return out
}

// waitLine waits for a line for which match is true and returns it.
func waitLine(t *testing.T, in <-chan string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-in:
			if !ok {
				t.Fatal("the stream ended first")
			}
			if match(l) {
				return l
			}
		case <-deadline:
			t.Fatal("no such line within 10s")
		}
	}
}

// waitEnd returns why the next stream that had opened ended.
func (f *fixture) waitEnd(t *testing.T) error {
	t.Helper()
	for {
		select {
		case err := <-f.ends:
			var refused *apierr.Error
			if errors.As(err, &refused) {
				continue // answered before it opened
			}
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("no stream ended within 10s")
			return nil
		}
	}
}

func (f *fixture) waitDrained(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.rt.Len() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still counted", f.rt.Len())
		}
		time.Sleep(10 * time.Millisecond) // the release follows the end by a few instructions
	}
}

func expectJSON(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || !strings.Contains(string(body), `"code":"`+code+`"`) {
		t.Fatalf("answer %d %s, want %d with code %s", resp.StatusCode, body, status, code)
	}
}

func TestOpensDetachedWithItsPositionThenForwards(t *testing.T) {
	topic := redistest.Name("rt:")
	f := serve(t, Config{}, forward(Plan{Topics: []string{topic}, Holder: "u"}))
	resp := f.get(t, "/", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("opened with %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.TransferEncoding != nil || !resp.Close {
		t.Fatal("the stream was not detached from net/http")
	}
	in := lines(resp.Body)
	if l := <-in; l != "retry: 50" {
		t.Fatalf("first line %q", l)
	}
	waitLine(t, in, func(l string) bool { return strings.HasPrefix(l, "id: ") })
	id, err := f.pub.Publish(context.Background(), topic, "hello", []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	waitLine(t, in, func(l string) bool { return l == "id: "+id })
	if l := <-in; l != "event: hello" {
		t.Fatalf("event line %q", l)
	}
	resp.Body.Close()
	if err := f.waitEnd(t); !errors.Is(err, ErrClientGone) {
		t.Fatalf("end cause %v, want ErrClientGone", err)
	}
	f.waitDrained(t)
}

func TestErrorsBeforeOpeningAreJSONAnswers(t *testing.T) {
	topic := redistest.Name("rt:")
	cases := map[string]struct {
		logic  func(*Stream) error
		header http.Header
		status int
		code   string
	}{
		"logic refuses": {func(*Stream) error { return apierr.Forbidden("no") }, nil, 403, "forbidden"},
		"bad position":  {forward(Plan{Topics: []string{topic}}), http.Header{"Last-Event-Id": {"x-y"}}, 400, "bad_request"},
		"no topics":     {forward(Plan{}), nil, 400, "bad_request"},
		"commit fails": {forward(Plan{Topics: []string{topic}, Commit: func(context.Context) error {
			return apierr.Unauthorized("spent")
		}}), nil, 401, "unauthorized"},
		"panics": {func(*Stream) error { panic("boom") }, nil, 500, "internal"},
		"plan refuses": {func(s *Stream) error {
			_, err := s.Subscribe(func() (Plan, error) { return Plan{}, apierr.Forbidden("no") })
			return err
		}, nil, 403, "forbidden"},
		"plan subscribes again": {func(s *Stream) error {
			_, err := s.Subscribe(func() (Plan, error) {
				_, err := s.Subscribe(func() (Plan, error) { return Plan{Topics: []string{topic}}, nil })
				return Plan{}, err
			})
			return err
		}, nil, 500, "internal"},
		"plan panics": {func(s *Stream) error {
			_, err := s.Subscribe(func() (Plan, error) { panic("boom") })
			return err
		}, nil, 500, "internal"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := serve(t, Config{}, c.logic)
			expectJSON(t, f.get(t, "/", c.header), c.status, c.code)
			f.waitDrained(t)
		})
	}
}

func TestNothingToStreamIs204(t *testing.T) {
	f := serve(t, Config{}, func(*Stream) error { return nil })
	if resp := f.get(t, "/", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204 (an EventSource stops reconnecting)", resp.StatusCode)
	}
}

func TestAPanicAfterOpeningEndsThatStreamOnly(t *testing.T) {
	topic := redistest.Name("rt:")
	f := serve(t, Config{}, func(s *Stream) error {
		if _, err := s.Subscribe(func() (Plan, error) { return Plan{Topics: []string{topic}}, nil }); err != nil {
			return err
		}
		panic("boom")
	})
	resp := f.get(t, "/", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
	f.waitDrained(t)
	// The server goes on.
	if again := f.get(t, "/", nil); again.StatusCode != 200 {
		t.Fatalf("after a panic: %d", again.StatusCode)
	}
}

func TestLimitsAndShutdown(t *testing.T) {
	topic := redistest.Name("rt:")
	f := serve(t, Config{MaxStreamsPerUser: 1}, forward(Plan{Topics: []string{topic}, Holder: "u"}))
	first := f.get(t, "/", nil)
	waitLine(t, lines(first.Body), func(l string) bool { return strings.HasPrefix(l, "id: ") })
	expectJSON(t, f.get(t, "/", nil), 429, "rate_limited")

	drained := f.rt.Shutdown()
	if err := f.waitEnd(t); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("end cause %v, want ErrShuttingDown", err)
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown did not drain")
	}
	expectJSON(t, f.get(t, "/", nil), 503, "unavailable")
}

func TestEndsAtItsDeadline(t *testing.T) {
	topic := redistest.Name("rt:")
	f := serve(t, Config{}, forward(Plan{Topics: []string{topic}, Until: time.Now().Add(300 * time.Millisecond)}))
	resp := f.get(t, "/", nil)
	if err := f.waitEnd(t); !errors.Is(err, ErrCredentialExpired) {
		t.Fatalf("end cause %v, want ErrCredentialExpired", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	f.waitDrained(t)
}

func TestHeartbeatsOnlyWhenIdle(t *testing.T) {
	topic := redistest.Name("rt:")
	f := serve(t, Config{Heartbeat: 50 * time.Millisecond}, forward(Plan{Topics: []string{topic}}))
	in := lines(f.get(t, "/", nil).Body)
	waitLine(t, in, func(l string) bool { return l == ":" })
}

// A client that stops reading is disconnected within WriteTimeout, and the other streams of
// its topic go on.
func TestAClientThatStopsReadingIsDisconnected(t *testing.T) {
	topic := redistest.Name("rt:")
	f := serve(t, Config{WriteTimeout: 300 * time.Millisecond}, forward(Plan{Topics: []string{topic}}))
	stuck := f.get(t, "/", nil) // never read past its first line
	if _, err := bufio.NewReader(stuck.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	healthy := lines(f.get(t, "/", nil).Body)
	waitLine(t, healthy, func(l string) bool { return strings.HasPrefix(l, "id: ") })
	big := []byte(`"` + strings.Repeat("x", 60000) + `"`)
	var last string
	for f.rt.Len() == 2 { // until the stuck one is gone; the socket buffers fill first
		id, err := f.pub.Publish(context.Background(), topic, "", big)
		if err != nil {
			t.Fatal(err)
		}
		last = id
		waitLine(t, healthy, func(l string) bool { return l == "id: "+id })
	}
	var ne interface{ Timeout() bool }
	if err := f.waitEnd(t); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("end cause %v, want a write timeout", err)
	}
	if last == "" {
		t.Fatal("nothing was published")
	}
}

var (
	spansOnce sync.Once
	spans     *tracetest.InMemoryExporter
)

// A stream's span lasts as long as the stream, not as long as its handler: detached, the
// handler returns at once.
func TestTheStreamsSpanEndsWhenTheStreamEnds(t *testing.T) {
	// The package's tracer follows the first global provider only: set it once per process.
	spansOnce.Do(func() {
		spans = tracetest.NewInMemoryExporter()
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))
	})
	spans.Reset()
	topic := redistest.Name("rt:")
	const life = 300 * time.Millisecond
	f := serve(t, Config{}, forward(Plan{Topics: []string{topic}, Until: time.Now().Add(life)}))
	if _, err := io.ReadAll(f.get(t, "/", nil).Body); err != nil {
		t.Fatal(err)
	}
	f.waitEnd(t)
	f.waitDrained(t)
	// The span ends last, after the stream left the registry; other tests' streams may end
	// meanwhile too.
	var seen []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		seen = seen[:0]
		for _, s := range spans.GetSpans() {
			attrs := map[string]string{}
			for _, kv := range s.Attributes {
				attrs[string(kv.Key)] = kv.Value.Emit()
			}
			d := s.EndTime.Sub(s.StartTime)
			if s.Name == "sse.stream Test" && attrs["sse.end"] == "credential_expired" && attrs["sse.opened"] == "true" && d >= life/2 {
				return
			}
			seen = append(seen, fmt.Sprintf("%s %v lasting %v", s.Name, attrs, d))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no span of the stream, ended by its credential after about %v, among %q", life, seen)
}
