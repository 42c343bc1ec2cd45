package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	sse "github.com/tmaxmax/go-sse"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/testinstance"
)

const secret = "e2e-secret-0123456789"

var binary string

func TestMain(m *testing.M) { testinstance.Main(m.Run, raceBuild, &binary) }

// settings are the knobs tests turn; zero values take the defaults of withDefaults, then
// the template's. Redis is the real Redis unless Embedded is set (the only Redis the demo
// mint allows); RedisAddr or RedisAddrs, when set, replace it (a server of the test's own,
// Cluster nodes).
type settings = testinstance.Config

// withDefaults is what every e2e instance has: its name and secret, the real Redis, short
// retries, public topics, and limits out of the way of tests that do not test them.
func withDefaults(t *testing.T, s settings) settings {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	s.Name, s.Secret, s.ShutdownWait = "sse-api-e2e", secret, "30s"
	if !s.Embedded && s.RedisAddrs == "" && s.RedisAddr == "" { // a test's own server is kept
		s.RedisAddr = redistest.Addr(t)
	}
	if s.Retry == "" {
		s.Retry = "100ms"
	}
	s.PublicTopics = `["public:*"]`
	def(&s.MaxStreams, 1000)
	def(&s.MaxStreamsPerUser, 100)
	def(&s.AnonymousPerMinute, 1000)
	s.QRRetention = "1m"
	// QR limits are counted per address in the shared Redis.
	def(&s.QRCreatePerMinute, 100000)
	def(&s.QRMissesPerMinute, 100000)
	def(&s.QRScansPerMinute, 100000) // and per user, and the tests' users have common names
	return s
}

// instance is one running sse-api process.
type instance struct {
	*testinstance.Instance
	t    *testing.T
	Base string // http://127.0.0.1:port
	Dev  string // the DevServer's
}

// start runs an instance and waits until it serves.
func start(t *testing.T, s settings) *instance {
	t.Helper()
	inst := launch(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := inst.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return inst
}

// launch runs an instance without waiting for it.
func launch(t *testing.T, s settings) *instance {
	t.Helper()
	inst, err := testinstance.Launch(binary, t.TempDir(), withDefaults(t, s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		inst.Kill()
		if inst.Raced() {
			t.Errorf("the race detector reported a race in sse-api:\n%s", inst.Logs)
		} else if t.Failed() {
			t.Logf("logs of %s:\n%s", inst.APIAddr, inst.Logs)
		}
	})
	return &instance{Instance: inst, t: t, Base: "http://" + inst.APIAddr, Dev: "http://" + inst.DevAddr}
}

func (i *instance) signal(sig syscall.Signal) {
	if err := i.Signal(sig); err != nil {
		i.t.Fatal(err)
	}
}

// token signs an access token.
func token(t *testing.T, uid string, publish, subscribe []string) string {
	t.Helper()
	tok, err := auth.NewTokens(secret).Sign(map[string]any{
		auth.ClaimUID: uid, auth.ClaimPublish: publish, auth.ClaimSubscribe: subscribe,
	}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends a JSON request (raw bytes as they are) and returns the status and decoded body.
func call(t *testing.T, method, url, bearer string, body any) (int, map[string]any) {
	t.Helper()
	status, raw := callRaw(t, method, url, bearer, body)
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d, body is not JSON: %q", method, url, status, raw)
		}
	}
	return status, out
}

// callRaw is call with the raw answer, for answers that must be checked byte for byte.
func callRaw(t *testing.T, method, url, bearer string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// callJSON is callRaw with the answer decoded into out.
func callJSON(t *testing.T, method, url, bearer string, body, out any) int {
	t.Helper()
	status, raw := callRaw(t, method, url, bearer, body)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s %s: %d, answer is not JSON: %q", method, url, status, raw)
	}
	return status
}

func publishEvent(t *testing.T, base, bearer, topic string, data any) string {
	t.Helper()
	status, out := call(t, http.MethodPost, base+"/v1/topics/"+topic+"/events", bearer, map[string]any{"data": data})
	if status != http.StatusCreated {
		t.Fatalf("publish: %d %v", status, out)
	}
	return out["id"].(string)
}

// event is one dispatched SSE event as a spec-following client sees it.
type event struct{ ID, Type, Data string }

// stream is an open SSE response read by go-sse's parser.
type stream struct {
	Resp   *http.Response
	Events chan event
	// Ended is closed when the server ends the stream.
	Ended chan struct{}
	// Positioned is closed once the stream has told its position (its first id).
	Positioned chan struct{}
	cancel     context.CancelFunc
	mu         sync.Mutex
	lastID     string
}

// open requests an SSE stream; the caller checks Resp.StatusCode.
func open(t *testing.T, url string, header http.Header) *stream {
	t.Helper()
	return openWith(t, http.DefaultClient, url, header)
}

// openWith is open through client (a browser's cookie jar, say).
func openWith(t *testing.T, client *http.Client, url string, header http.Header) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &stream{Resp: resp, Events: make(chan event, 4096), Ended: make(chan struct{}), Positioned: make(chan struct{}), cancel: cancel}
	t.Cleanup(s.Close)
	if resp.StatusCode != http.StatusOK {
		close(s.Ended)
		return s
	}
	go func() {
		defer close(s.Ended)
		for ev, err := range sse.Read(resp.Body, nil) {
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.lastID == "" && ev.LastEventID != "" {
				close(s.Positioned)
			}
			s.lastID = ev.LastEventID
			s.mu.Unlock()
			if ev.Data == "" {
				continue // blocks without data (the position, the retry) dispatch nothing in browsers
			}
			s.Events <- event{ID: ev.LastEventID, Type: ev.Type, Data: ev.Data}
		}
	}()
	return s
}

// mustOpen opens a stream that must be accepted.
func mustOpen(t *testing.T, url string, header http.Header) *stream {
	t.Helper()
	s := open(t, url, header)
	if s.Resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(s.Resp.Body)
		t.Fatalf("GET %s: %d %s", url, s.Resp.StatusCode, body)
	}
	if ct := s.Resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	return s
}

// LastID is the last event id the stream carried, as a browser would resend it.
func (s *stream) LastID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

func (s *stream) Close() {
	s.cancel()
	s.Resp.Body.Close()
}

// next waits for the next event.
func (s *stream) next(t *testing.T) event {
	t.Helper()
	select {
	case ev := <-s.Events:
		return ev
	case <-s.Ended:
		select {
		case ev := <-s.Events:
			return ev
		default:
		}
		t.Fatal("stream ended while waiting for an event")
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return event{}
}

// waitEnded waits for the server to end the stream.
func (s *stream) waitEnded(t *testing.T) {
	t.Helper()
	select {
	case <-s.Ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end")
	}
}

// waitPosition waits until the stream has told its position.
func (s *stream) waitPosition(t *testing.T) string {
	t.Helper()
	select {
	case <-s.Positioned:
		return s.LastID()
	case <-time.After(10 * time.Second):
		t.Fatal("stream never told its position")
		return ""
	}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// rawLines reads a stream's raw lines, for what parsers hide (comments).
func rawLines(body io.Reader) <-chan string {
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

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
