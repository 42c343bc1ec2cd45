package middleware

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"
)

// echo answers with the body it read, or passes the read error to the service's error
// handler, as a generated handler's httpx.Parse does.
func echo(reached *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}
		_, _ = w.Write(b)
	}
}

func TestBodyLimitAnswersAContentLengthOverItAtOnce(t *testing.T) {
	var reached atomic.Int32
	srv := httptest.NewServer(BodyLimit(100)(echo(&reached)))
	t.Cleanup(srv.Close)

	// Headers only: the body never comes, so an answer proves nothing waited for it. (A
	// declared body under 256 KiB would be drained by net/http before the answer goes out,
	// for the connection's reuse: the handler still never sees it, as below.)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /v1/topics/a/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	wantResponseError(t, resp, http.StatusRequestEntityTooLarge, "payload_too_large")

	// A client that sends what it declared.
	wantResponseError(t, post(t, srv.URL, strings.NewReader(strings.Repeat("x", 101))), http.StatusRequestEntityTooLarge, "payload_too_large")
	resp = post(t, srv.URL, strings.NewReader(strings.Repeat("x", 100)))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a body of the limit: %d", resp.StatusCode)
	}
	if n := reached.Load(); n != 1 {
		t.Fatalf("the handler ran %d times, want 1", n)
	}
}

func TestBodyLimitChunkedBodyOverIt(t *testing.T) {
	var reached atomic.Int32
	srv := httptest.NewServer(BodyLimit(100)(echo(&reached)))
	t.Cleanup(srv.Close)

	resp := post(t, srv.URL, hideLength{strings.NewReader(strings.Repeat("x", 101))})
	wantResponseError(t, resp, http.StatusRequestEntityTooLarge, "payload_too_large")

	for _, n := range []int{0, 1, 100} {
		body := strings.Repeat("y", n)
		resp := post(t, srv.URL, hideLength{strings.NewReader(body)})
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(got) != body {
			t.Fatalf("%d bytes chunked: %d, %d bytes back", n, resp.StatusCode, len(got))
		}
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET without a body: %d", resp.StatusCode)
	}
}

// A JSON route parses its body with httpx.Parse (which reads only bodies with a
// Content-Length): over the limit it is a 413 in the service's shape, not go-zero's.
func TestBodyLimitInFrontOfGoZerosParse(t *testing.T) {
	srv := httptest.NewServer(BodyLimit(100)(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Topics []string `json:"topics"`
		}
		if err := httpx.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}
		httpx.OkJsonCtx(r.Context(), w, req)
	}))
	t.Cleanup(srv.Close)
	big := `{"topics": ["` + strings.Repeat("a", 200) + `"]}`
	wantResponseError(t, post(t, srv.URL, strings.NewReader(big)), http.StatusRequestEntityTooLarge, "payload_too_large")

	resp := post(t, srv.URL, strings.NewReader(`{"topics": ["a"]}`))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `["a"]`) {
		t.Fatalf("a small body: %d %s", resp.StatusCode, got)
	}
}

func TestMaxBytesFollowsTheServersSettings(t *testing.T) {
	conf := func(on bool, max int64) rest.RestConf {
		var c rest.RestConf
		c.Middlewares.MaxBytes = on
		c.MaxBytes = max
		return c
	}
	cases := []struct {
		name    string
		conf    rest.RestConf
		size    int
		limited bool
	}{
		{"on, over", conf(true, 16), 17, true},
		{"on, at the limit", conf(true, 16), 16, false},
		{"off", conf(false, 16), 1000, false},
		{"MaxBytes 0", conf(true, 0), 1000, false},
		{"MaxBytes negative", conf(true, -1), 1000, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var reached atomic.Int32
			h := Edge(c.conf)(echo(&reached))
			for _, chunked := range []bool{false, true} {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("z", c.size)))
				if chunked {
					r.ContentLength = -1
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if c.limited {
					wantJSONError(t, w.Code, w.Header(), w.Body.Bytes(), http.StatusRequestEntityTooLarge, "payload_too_large")
				} else if w.Code != http.StatusOK || w.Body.Len() != c.size {
					t.Fatalf("chunked %v: %d, %d bytes back", chunked, w.Code, w.Body.Len())
				}
			}
		})
	}
}
