package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/redistest"
	pub "github.com/sseapi/sse-api/publish"
)

// These tests attack the service as an outsider, or with a stolen or stale credential, and
// each fails on the service as it was before the hardening (see SECURITY.md).

// procKB reads a /proc/<pid>/status field in kB (VmRSS, VmHWM).
func procKB(t *testing.T, pid int, field string) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// zeros is an endless body that allocates nothing on the client's side.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// gzipBomb is a small gzip body that inflates to size bytes of zeros.
func gzipBomb(t *testing.T, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := io.Copy(zw, io.LimitReader(zeros{}, size)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func send(t *testing.T, method, url string, header http.Header, body io.Reader, length int64) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	req.ContentLength = length
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // the server may close the connection on a body it refuses
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A 50 MB body with a bad token, and a gzip bomb without one, on the publish and phone
// routes: the server refuses them without reading them into memory or into its log.
func TestRefusedBodiesDoNotGrowMemoryOrTheLog(t *testing.T) {
	a := start(t, settings{})
	tok := token(t, "bomb", []string{"bomb:*"}, nil)
	bomb := gzipBomb(t, 100<<20)
	t.Logf("gzip bomb: %d bytes inflating to 100 MB", len(bomb))
	// Warm up what every request allocates once, so the growth below is the bodies'.
	for i := 0; i < 20; i++ {
		call(t, http.MethodPost, a.Base+"/v1/topics/bomb:x/events", tok, map[string]any{"data": i})
	}
	rss, logBefore := procKB(t, a.Pid(), "VmRSS"), len(a.Logs.String())
	bad := http.Header{"Authorization": {"Bearer bad"}, "Content-Type": {"application/json"}}
	gz := http.Header{"Content-Encoding": {"gzip"}, "Content-Type": {"application/json"}}
	good := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + tok}}
	gzGood := http.Header{"Content-Encoding": {"gzip"}, "Content-Type": {"application/json"}, "Authorization": {"Bearer " + tok}}
	for _, c := range []struct {
		name   string
		url    string
		header http.Header
		body   func() (io.Reader, int64)
	}{
		{"50 MB, bad token, publish", "/v1/topics/bomb:x/events", bad, func() (io.Reader, int64) { return io.LimitReader(zeros{}, 50<<20), 50 << 20 }},
		{"50 MB chunked, bad token, publish", "/v1/topics/bomb:x/events", bad, func() (io.Reader, int64) { return io.LimitReader(zeros{}, 50<<20), -1 }},
		{"50 MB, bad token, phone scan", "/v1/qr/sessions/x/scan", bad, func() (io.Reader, int64) { return io.LimitReader(zeros{}, 50<<20), 50 << 20 }},
		{"gzip bomb, no token, publish", "/v1/topics/bomb:x/events", gz, func() (io.Reader, int64) { return bytes.NewReader(bomb), int64(len(bomb)) }},
		{"gzip bomb, no token, phone scan", "/v1/qr/sessions/x/scan", gz, func() (io.Reader, int64) { return bytes.NewReader(bomb), int64(len(bomb)) }},
		{"gzip bomb, good token, publish", "/v1/topics/bomb:x/events", gzGood, func() (io.Reader, int64) { return bytes.NewReader(bomb), int64(len(bomb)) }},
		{"50 MB, good token, batch publish", "/v1/publish", good, func() (io.Reader, int64) { return io.LimitReader(zeros{}, 50<<20), 50 << 20 }},
	} {
		body, n := c.body()
		code := send(t, http.MethodPost, a.Base+c.url, c.header, body, n)
		if code != 0 && code != 401 && code != 413 {
			t.Errorf("%s: answered %d", c.name, code)
		}
		t.Logf("%s: %d", c.name, code)
	}
	peak := procKB(t, a.Pid(), "VmHWM")
	grown := (peak - rss) / 1024
	logGrown := len(a.Logs.String()) - logBefore
	t.Logf("RSS %d MB before, peak %d MB after; log grew %d bytes", rss/1024, peak/1024, logGrown)
	if grown >= 16 {
		t.Fatalf("the process grew by %d MB refusing bodies (want < 16)", grown)
	}
	if logGrown > 64<<10 {
		t.Fatalf("the log grew by %d bytes refusing bodies", logGrown)
	}
}

// A resume cookie never outlives the token its ticket was issued for, and is Secure when
// the service is told its cookies are.
func TestResumeCookieNeverOutlivesItsToken(t *testing.T) {
	a := start(t, settings{Extra: "Auth:\n  AccessSecret: " + secret + "\n  SecureCookies: true"})
	topic := redistest.Name("room:")
	exp := time.Now().Add(3 * time.Second)
	tok, _ := auth.NewTokens(secret).Sign(map[string]any{auth.ClaimUID: "eve", auth.ClaimSubscribe: []string{"room:*"}}, exp)
	tk := ticket(t, a.Base, tok, topic)
	streamURL := a.Base + "/v1/events?ticket=" + url.QueryEscape(tk)
	s := mustOpen(t, streamURL, nil)
	var resume *http.Cookie
	for _, c := range s.Resp.Cookies() {
		if strings.HasPrefix(c.Name, "sse_resume_") {
			resume = c
		}
	}
	if resume == nil || !resume.Secure || resume.Expires.After(exp.Add(time.Second)) {
		t.Fatalf("resume cookie %+v for a token ending %v", resume, exp)
	}
	s.waitEnded(t) // at the token's expiry
	expectError(t, get(t, streamURL, http.Header{"Cookie": {resume.Name + "=" + resume.Value}}), 401, "unauthorized")
}

// One token check for every route: HS256 only, exp required.
func TestEveryRouteNeedsAnHS256TokenWithExp(t *testing.T) {
	a := start(t, settings{})
	claims := jwt.MapClaims{"uid": "mal", "publish": []string{"*"}, "subscribe": []string{"*"}}
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	claims["exp"] = time.Now().Add(time.Hour).Unix()
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString([]byte(secret))
	topic := redistest.Name("any:")
	for name, tok := range map[string]string{"no exp": noExp, "HS512": hs512} {
		if code, _ := call(t, http.MethodPost, a.Base+"/v1/topics/"+topic+"/events", tok, map[string]any{"data": 1}); code != 401 {
			t.Errorf("%s: publish %d", name, code)
		}
		if code, _ := call(t, http.MethodPost, a.Base+"/v1/tickets", tok, map[string]any{"topics": []string{topic}}); code != 401 {
			t.Errorf("%s: ticket %d", name, code)
		}
		expectError(t, get(t, a.Base+"/v1/events?topic="+topic, bearer(tok)), 401, "unauthorized")
		expectError(t, get(t, a.Base+"/v1/me/events", bearer(tok)), 401, "unauthorized")
	}
}

// A request refused for another reason leaves its ticket usable: it is spent last.
func TestARefusedRequestDoesNotSpendItsTicket(t *testing.T) {
	a := start(t, settings{})
	tok := token(t, "tia", nil, []string{"room:*"})
	topic := redistest.Name("room:")
	tk := url.QueryEscape(ticket(t, a.Base, tok, topic))
	expectError(t, get(t, a.Base+"/v1/events?ticket="+tk, http.Header{"Last-Event-Id": {"bad"}}), 400, "bad_request")
	expectError(t, get(t, a.Base+"/v1/events?ticket="+tk+"&topic=room:other", nil), 403, "forbidden")
	mustOpen(t, a.Base+"/v1/events?ticket="+tk, nil).waitPosition(t)
	expectError(t, get(t, a.Base+"/v1/events?ticket="+tk, nil), 401, "unauthorized") // now spent
}

// A Last-Event-ID past the topic's newest event gets a reset, and the stream goes on from
// the newest event.
func TestAPositionInTheFutureGetsAReset(t *testing.T) {
	a := start(t, settings{})
	tok := token(t, "fut", []string{"fut:*"}, []string{"fut:*"})
	topic := redistest.Name("fut:")
	newest := publishEvent(t, a.Base, tok, topic, 0)
	s := mustOpen(t, a.Base+"/v1/events?topic="+topic, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {"99999999999999999-0"}})
	if ev := s.next(t); ev.Type != "reset" || ev.ID != newest || !strings.Contains(ev.Data, `"unknown_position"`) {
		t.Fatalf("first event %+v, want a reset to %s", ev, newest)
	}
	publishEvent(t, a.Base, tok, topic, 1)
	if ev := s.next(t); ev.Data != "1" {
		t.Fatalf("after the reset: %+v", ev)
	}
}

// A history read that fails after the stream opened ends it with a retry delay, so the
// client resumes, and it is counted.
func TestAReplayFailureEndsTheStreamWithRetry(t *testing.T) {
	a := start(t, settings{})
	tok := token(t, "rep", nil, []string{"rep:*"})
	topic := redistest.Name("rep:")
	rdb := redistest.Client(t)
	ctx := context.Background()
	// A topic whose position is known but whose history is not a stream: every read fails.
	rdb.HSet(ctx, pub.MetaKey(topic), "last", "2000-0")
	rdb.Set(ctx, pub.StreamKey(topic), "not a stream", time.Minute)
	t.Cleanup(func() { rdb.Del(ctx, pub.MetaKey(topic), pub.StreamKey(topic)) })
	resp := get(t, a.Base+"/v1/events?topic="+topic, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {"1000-0"}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.HasSuffix(string(body), "retry: 100\n\n") {
		t.Fatalf("stream ended with %q, want a retry delay", body)
	}
	for deadline := time.Now().Add(5 * time.Second); metric(t, a, `sse_streams_ended_total{reason="error"}`) < 1; {
		if time.Now().After(deadline) {
			t.Fatal("the failure was not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Spans carry the request URI with credentials redacted.
func TestSpansCarryTheRedactedURI(t *testing.T) {
	spans := filepath.Join(t.TempDir(), "spans.json")
	a := start(t, settings{Extra: "Telemetry:\n  Name: sse-api\n  Batcher: file\n  Endpoint: " + spans})
	const leaked = "TICKET-THAT-MUST-NOT-LEAK"
	get(t, a.Base+"/v1/events?topic=public:x&ticket="+leaked, nil)
	a.signal(syscall.SIGTERM) // flushes the exporter
	select {
	case <-a.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("no exit")
	}
	data, err := os.ReadFile(spans)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "ticket=REDACTED") || strings.Contains(string(data), leaked) {
		t.Fatalf("spans:\n%s", data)
	}
}
