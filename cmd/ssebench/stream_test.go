package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveOnce accepts one connection on a loopback port, hands the request head to answer,
// and writes what answer returns; the connection closes when close is true. It returns the
// address and a channel of the request heads.
func serveOnce(t *testing.T, answer func(head string) (reply string, close bool)) (string, <-chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	heads := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				c.Close()
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		heads <- head.String()
		reply, closeIt := answer(head.String())
		_, _ = c.Write([]byte(reply))
		if closeIt {
			c.Close()
			return
		}
		t.Cleanup(func() { c.Close() })
	}()
	return l.Addr().String(), heads
}

// A 200 refusal is no stream: its X-Refusal-Status, retry: and error code come back.
func TestConnectRefusal(t *testing.T) {
	addr, _ := serveOnce(t, func(string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Refusal-Status: 503\r\nConnection: close\r\n\r\n" +
			"retry: 7321\n\nevent: error\ndata: {\"code\":\"unavailable\",\"message\":\"server is shutting down\",\"status\":503}\n\n", true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := openStream(ctx, addr, "", "/v1/events?topic=t", "", 0, &hist{})
	var oe *openError
	if !errors.As(err, &oe) || oe.refused != 503 || oe.retry != 7321 || oe.msg != "unavailable" {
		t.Fatalf("error %v (%+v)", err, oe)
	}
	if !retryable(err) {
		t.Errorf("a 200 refusal is not retried: %v", err)
	}
}

// A stream that resumes asks with its last id and goes on counting where it was: the
// events it missed arrive, one it had is a duplicate.
func TestConnectResumes(t *testing.T) {
	addr, heads := serveOnce(t, func(string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" +
			"retry: 2000\n\nid: 9-0\n\n" +
			"id: 10-0\nevent: b\ndata: {\"s\":3,\"t\":1}\n\n" +
			"id: 11-0\nevent: b\ndata: {\"s\":4,\"t\":1}\n\n" +
			"id: 11-0\nevent: b\ndata: {\"s\":4,\"t\":1}\n\n", false
	})
	s := &stream{src: "", path: "/v1/events?topic=t", lat: &hist{}, next: 3, fd: -1}
	s.p = newParser(false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.connect(ctx, addr, "Last-Event-ID: 8-0\r\n"); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(s.fd)
	// What the first read did not hold, the poller would read: read it here, blocking.
	if err := syscall.SetNonblock(s.fd, false); err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetsockoptTimeval(s.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for s.events.Load() < 3 {
		n, err := syscall.Read(s.fd, buf)
		if n <= 0 {
			t.Fatalf("read: %d %v, after %d events", n, err, s.events.Load())
		}
		if err := s.p.feed(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	if head := <-heads; !strings.Contains(head, "\r\nLast-Event-ID: 8-0\r\n") || !strings.Contains(head, "Accept: text/event-stream") {
		t.Fatalf("request head %q", head)
	}
	if string(s.p.lastID) != "11-0" || s.p.retry != 2000 || s.next != 5 || s.gaps != 0 || s.dup != 1 || s.events.Load() != 3 {
		t.Fatalf("last id %q retry %d next %d gaps %d dup %d events %d", s.p.lastID, s.p.retry, s.next, s.gaps, s.dup, s.events.Load())
	}
}
