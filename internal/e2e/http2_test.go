package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/redistest"
)

// With CertFile and KeyFile set, streams run over HTTP/2: many streams share one
// connection (browsers allow only 6 HTTP/1.1 connections per origin), and they resume,
// send heartbeats and end at shutdown as over HTTP/1.1, in their handlers (an HTTP/2
// stream cannot be taken over from net/http).
func TestStreamsOverHTTP2(t *testing.T) {
	certs := redistest.NewTLSFiles(t)
	a := start(t, settings{Heartbeat: "200ms", Extra: "CertFile: " + certs.CertFile + "\nKeyFile: " + certs.KeyFile})
	base := strings.Replace(a.Base, "http://", "https://", 1)
	pem, err := os.ReadFile(certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	t.Cleanup(transport.CloseIdleConnections)
	var mu sync.Mutex
	conns := map[string]bool{}
	client := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			conns[info.Conn.LocalAddr().String()] = true
			mu.Unlock()
		}}
		return transport.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
	})}

	tok := token(t, "h2", []string{"h2:*"}, []string{"h2:*"})
	topic := redistest.Name("h2:")
	var streams []*stream
	for i := 0; i < 10; i++ {
		s := openWith(t, client, base+"/v1/events?topic="+topic, bearer(tok))
		if s.Resp.StatusCode != 200 || s.Resp.ProtoMajor != 2 {
			t.Fatalf("stream %d: %d over %s", i, s.Resp.StatusCode, s.Resp.Proto)
		}
		s.waitPosition(t)
		streams = append(streams, s)
	}
	if len(conns) != 1 {
		t.Fatalf("10 streams over %d connections, want 1", len(conns))
	}
	publish := func(data int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/topics/"+topic+"/events", strings.NewReader(`{"data":`+strconv.Itoa(data)+`}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("publish over HTTP/2: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	publish(1)
	for _, s := range streams {
		if ev := s.next(t); ev.Data != "1" {
			t.Fatalf("event %+v", ev)
		}
	}
	// Resume: one stream leaves, an event passes, it comes back with its last id.
	last := streams[0].LastID()
	streams[0].Close()
	publish(2)
	r := openWith(t, client, base+"/v1/events?topic="+topic, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {last}})
	if ev := r.next(t); ev.Data != "2" {
		t.Fatalf("resumed over HTTP/2: %+v", ev)
	}
	// Heartbeats.
	raw, err := client.Do(mustRequest(t, base+"/v1/events?topic="+topic, tok))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Body.Close()
	heartbeat := false
	for line := range rawLines(raw.Body) {
		if line == ":" {
			heartbeat = true
			break
		}
	}
	if !heartbeat {
		t.Fatal("the stream ended before a heartbeat")
	}
	// Shutdown ends them all.
	sent := time.Now()
	a.signal(syscall.SIGTERM)
	for _, s := range append(streams[1:], r) {
		s.waitEnded(t)
	}
	ended := time.Since(sent)
	// What the streams still held when they ended: event 2 on the nine that stayed, nothing
	// more on the resumed one.
	delivered := 10 + 1
	for i, s := range append(streams[1:], r) {
		var rest []string
		for len(s.Events) > 0 {
			rest = append(rest, (<-s.Events).Data)
		}
		want := "[2]"
		if s == r {
			want = "[]"
		}
		if fmt.Sprint(rest) != want {
			t.Fatalf("stream %d held %v after the shutdown, want %s", i+1, rest, want)
		}
		delivered += len(rest)
	}
	t.Logf("FAULT http2  streams=10 connections=%d proto=%s acked=2 delivered=%d lost=0 duplicated=0 resumed=1 heartbeat=1 all_ended_after_sigterm=%v",
		len(conns), streams[1].Resp.Proto, delivered, ended.Round(time.Millisecond))
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func mustRequest(t *testing.T, url, tok string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}
