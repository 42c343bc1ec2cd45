package qr_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest/httpx"
	"github.com/zeromicro/go-zero/rest/router"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/config"
	qrhandler "github.com/sseapi/sse-api/internal/handler/qr"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/respond"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/publish"
)

const testSecret = "logic-test-secret-0123456789"

// wait bounds every wait for something the service should do.
const wait = 10 * time.Second

func TestMain(m *testing.M) {
	// As svc.ServiceContext.Use installs it: errors answer as JSON.
	httpx.SetErrorHandlerCtx(apierr.Handle)
	logx.SetLevel(logx.ErrorLevel)
	os.Exit(m.Run())
}

// harness serves the generated handlers of the routes under test, behind the service's
// middlewares, on a real ServiceContext talking to the test Redis.
type harness struct {
	svc *svc.ServiceContext
	url string
	// addr is the client address the service sees (X-Forwarded-For from a trusted
	// loopback proxy): one per harness, so rate limits kept in the shared Redis are its own.
	addr   string
	client *http.Client
}

func newHarness(t *testing.T, edit func(*config.Config)) *harness {
	t.Helper()
	yaml := fmt.Sprintf(`
Name: sse-api-test
Port: 1
Middlewares:
  Log: false
Auth:
  AccessSecret: %s
Redis:
  Addr: %s
Stream:
  HistoryTTL: 2m
Topics:
  Public: ["public:*"]
TrustedProxies: ["127.0.0.1", "::1"]
`, testSecret, redistest.Addr(t))
	var c config.Config
	if err := conf.LoadFromYamlBytes([]byte(yaml), &c); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&c)
	}
	s, err := svc.NewServiceContext(c)
	if err != nil {
		t.Fatal(err)
	}
	// In the order of ServiceContext.Use.
	chain := func(h http.HandlerFunc) http.HandlerFunc {
		return s.ClientIP.Handle(middleware.AccessLog(middleware.BodyLimit(s.Config.Stream.MaxPayload)(respond.Middleware(h))))
	}
	rt := router.NewRouter()
	if err := rt.Handle(http.MethodGet, "/v1/qr/sessions/:id/events", chain(qrhandler.QrEventsHandler(s))); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	transport := &http.Transport{}
	t.Cleanup(func() {
		select {
		case <-s.Streams.Shutdown():
		case <-time.After(wait):
			t.Error("streams did not end at shutdown")
		}
		transport.CloseIdleConnections()
		srv.Close()
		s.Close()
	})
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return &harness{
		svc:    s,
		url:    srv.URL,
		addr:   fmt.Sprintf("198.18.%d.%d", b[0], b[1]),
		client: &http.Client{Transport: transport},
	}
}

// topic returns a fresh topic name whose keys are removed when the test ends.
func (h *harness) topic(t *testing.T, prefix string) string {
	t.Helper()
	topic := redistest.Name(prefix)
	t.Cleanup(func() {
		h.svc.Redis.Client.Del(context.Background(), publish.StreamKey(topic), publish.MetaKey(topic))
	})
	return topic
}

func (h *harness) token(t *testing.T, uid string, subscribe ...string) string {
	t.Helper()
	tok, err := h.svc.Tokens.Sign(map[string]any{"uid": uid, "subscribe": subscribe}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (h *harness) publish(t *testing.T, topic, event, data string) string {
	t.Helper()
	id, err := h.svc.Publisher.Publish(context.Background(), topic, event, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// get sends GET path with header from the harness's client address.
func (h *harness) get(t *testing.T, ctx context.Context, path string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("X-Forwarded-For", h.addr)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// refused checks that GET path is answered with a JSON error before any stream opens.
func (h *harness) refused(t *testing.T, path string, header http.Header, status int, code string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp := h.get(t, ctx, path, header)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		json.Unmarshal(body, &got) != nil || got["code"] != code || got["message"] == nil || len(got) != 2 {
		t.Fatalf("GET %s: %d %s %s, want %d {\"code\": %q, \"message\"}", path, resp.StatusCode, resp.Header.Get("Content-Type"), body, status, code)
	}
}

// frame is one block of a stream, up to its blank line.
type frame struct {
	ID, Event, Data, Retry string
	HasID                  bool
	Comments               []string
}

// sseStream reads an open stream frame by frame.
type sseStream struct {
	Resp   *http.Response
	frames chan frame
	ended  chan struct{}
	cancel context.CancelFunc
}

// open opens a stream that must be accepted, and reads its opening: the retry delay and
// the comment, then the position line. It returns the stream and its position.
func (h *harness) open(t *testing.T, path string, header http.Header) (*sseStream, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp := h.get(t, ctx, path, header)
	s := &sseStream{Resp: resp, frames: make(chan frame, 256), ended: make(chan struct{}), cancel: cancel}
	t.Cleanup(s.Close)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	go s.read()
	first := s.next(t)
	if first.Retry != "2000" || len(first.Comments) != 1 || first.Comments[0] != "ok" || first.HasID || first.Data != "" {
		t.Fatalf("opening %+v, want retry 2000 and the comment ok", first)
	}
	pos := s.next(t)
	if !pos.HasID || pos.ID == "" || pos.Data != "" || pos.Event != "" {
		t.Fatalf("position line %+v, want an id alone", pos)
	}
	return s, pos.ID
}

func (s *sseStream) read() {
	defer close(s.ended)
	r := bufio.NewReader(s.Resp.Body)
	var f frame
	empty := true
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if !empty {
				s.frames <- f
			}
			f, empty = frame{}, true
			continue
		}
		empty = false
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "":
			f.Comments = append(f.Comments, value)
		case "id":
			f.ID, f.HasID = value, true
		case "event":
			f.Event = value
		case "data":
			if f.Data != "" {
				f.Data += "\n"
			}
			f.Data += value
		case "retry":
			f.Retry = value
		}
	}
}

// next waits for the next frame.
func (s *sseStream) next(t *testing.T) frame {
	t.Helper()
	select {
	case f := <-s.frames:
		return f
	case <-s.ended:
		select {
		case f := <-s.frames:
			return f
		default:
		}
		t.Fatal("the stream ended")
	case <-time.After(wait):
		t.Fatal("nothing on the stream")
	}
	return frame{}
}

// nextEvent waits for the next frame that carries data, past heartbeats.
func (s *sseStream) nextEvent(t *testing.T) frame {
	t.Helper()
	for {
		if f := s.next(t); f.Data != "" {
			return f
		}
	}
}

// waitEnded waits for the server to end the stream, failing on any event before that.
func (s *sseStream) waitEnded(t *testing.T) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case f := <-s.frames:
			if f.Data != "" {
				t.Fatalf("event %+v, want the stream's end", f)
			}
		case <-s.ended:
			return
		case <-deadline:
			t.Fatal("the stream did not end")
		}
	}
}

func (s *sseStream) Close() {
	s.cancel()
	s.Resp.Body.Close()
}

// waitFor waits until ok holds, failing after wait.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
