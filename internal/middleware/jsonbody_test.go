package middleware

import (
	"bufio"
	"encoding/json"
	"errors"
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

	"github.com/sseapi/sse-api/internal/apierr"
)

type pair struct {
	A int `json:"a"`
	B int `json:"b"`
}

func readPair(r io.Reader) (pair, error) {
	var p pair
	err := decodeJSONBody(r, &p, `{"a": <int>, "b": <int>}`, "a pair is smaller")
	return p, err
}

// pairServer serves withBody(readPair) behind Edge, bounded in time by timeout as the
// service bounds its bodies; its handler answers with the pair it found.
func pairServer(t *testing.T, timeout time.Duration) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var reached atomic.Int32
	next := func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		p, ok := bodyFrom[pair](r.Context())
		if _, other := bodyFrom[PublishBody](r.Context()); !ok || other {
			http.Error(w, "not one pair in the context", http.StatusInternalServerError)
			return
		}
		if left, err := io.ReadAll(r.Body); err != nil || len(left) != 0 || r.ContentLength != 0 {
			http.Error(w, "the body was left for the handler", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p)
	}
	var c rest.RestConf
	c.Middlewares.MaxBytes = true
	c.MaxBytes = 1 << 10
	c.Timeout = timeout.Milliseconds()
	srv := httptest.NewServer(Edge(c)(withBody(readPair, next)))
	t.Cleanup(srv.Close)
	return srv, &reached
}

func body(s string, chunked bool) io.Reader {
	if chunked {
		return hideLength{strings.NewReader(s)}
	}
	return strings.NewReader(s)
}

func TestJSONBodyHandsTheHandlerOneObject(t *testing.T) {
	srv, reached := pairServer(t, time.Minute)
	for _, chunked := range []bool{false, true} {
		resp := post(t, srv.URL, body(" {\"b\": 2, \"a\": 1}\n", chunked))
		var got pair
		err := json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || got != (pair{1, 2}) {
			t.Fatalf("chunked %v: %d %v %+v", chunked, resp.StatusCode, err, got)
		}
		wantResponseError(t, post(t, srv.URL, body(`{"a": }`, chunked)), http.StatusBadRequest, "bad_request")
	}
	if n := reached.Load(); n != 2 {
		t.Fatalf("the handler ran %d times, want 2", n)
	}
}

func TestJSONBodyRefusesAnEmptyBodyAndBadJSON(t *testing.T) {
	for name, s := range map[string]string{
		"empty":            ``,
		"white space":      " \n",
		"invalid":          `{"a": }`,
		"unterminated":     `{"a": 1`,
		"unknown field":    `{"a": 1, "c": 3}`,
		"wrong type":       `{"a": "1"}`,
		"two objects":      `{"a": 1} {"a": 2}`,
		"trailing garbage": `{"a": 1} x`,
		"an array":         `[1, 2]`,
		"not JSON":         `a=1&b=2`,
	} {
		_, err := readPair(strings.NewReader(s))
		var e *apierr.Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Message == "" {
			t.Errorf("%s: %v, want a 400", name, err)
		}
	}
}

// The size bound is BodyLimit's (tested there); the reader tells its error from bad JSON.
func TestJSONBodySizeBound(t *testing.T) {
	const limit = 32
	pad := func(n int) string { return `{"a": 1, "b": 2` + strings.Repeat(" ", n-len(`{"a": 1, "b": 2}`)) + `}` }
	for _, c := range []struct {
		name, body string
		status     int
	}{
		{"exactly the limit", pad(limit), 0},
		{"one byte over", pad(limit + 1), http.StatusRequestEntityTooLarge},
		{"over inside a value not yet finished", `{"a": ` + strings.Repeat("1", limit), http.StatusRequestEntityTooLarge},
		{"bad JSON within the limit", `{"a": x}`, http.StatusBadRequest},
	} {
		var p pair
		err := decodeJSONBody(http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(c.body)), limit), &p, "a pair", "a pair is smaller")
		var e *apierr.Error
		switch {
		case c.status == 0 && (err != nil || p != pair{1, 2}):
			t.Fatalf("%s: %v %+v", c.name, err, p)
		case c.status != 0 && (!errors.As(err, &e) || e.Status != c.status):
			t.Fatalf("%s: %v, want %d", c.name, err, c.status)
		case c.status == http.StatusRequestEntityTooLarge && e.Message != "a pair is smaller":
			t.Fatalf("%s: message %q", c.name, e.Message)
		}
	}
}

// A body that stops arriving is cut off at the request timeout (Edge's read deadline), and
// answered in the service's error shape without reaching the handler.
func TestJSONBodyTimeBound(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv, reached := pairServer(t, timeout)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	begin := time.Now()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\": 1,")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a body that stopped: %v", err)
	}
	if waited := time.Since(begin); waited < timeout {
		t.Fatalf("answered after %v, before the timeout", waited)
	}
	wantResponseError(t, resp, http.StatusRequestTimeout, "request_timeout")
	if n := reached.Load(); n != 0 {
		t.Fatalf("the handler ran %d times", n)
	}
}
