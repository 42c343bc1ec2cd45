package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// stream is one SSE connection held by a worker. After the response head it is read by the
// worker's poller (see poll.go), the only writer of the plain fields; the atomics are read by
// the progress reports. A stream that resumes elsewhere (the deploy scenario) is the same
// stream on a new connection: its sequence check goes on across the move.
type stream struct {
	topic int
	src   string   // source address
	path  string   // request URI
	lat   *hist    // publish-to-receive latencies
	conn  net.Conn // until detach
	fd    int      // after detach
	p     *parser
	now   int64 // unix ns of the read being parsed

	// sequence check: events of the stream's topic carry 1, 2, 3, ...
	next int64 // next expected sequence number
	gaps int64 // sequence numbers skipped over
	dup  int64 // sequence numbers seen again (or out of order)

	events   atomic.Int64 // events with data received
	ended    atomic.Bool  // the connection ended before the worker closed it
	endCause atomic.Value // string
	endedAt  int64        // unix ns the poller saw the end (read by the resume after it)
	moves    int          // times it resumed (the resume's only)

	// qr: when the phone's confirm was sent (unix ns; 0 before), and whether the browser
	// has learnt it
	confirmSent atomic.Int64
	confirmSeen atomic.Bool
	onConfirm   func(time.Duration)
}

// openError is an answer that opened no stream: a status other than 200, or a 200 refusal
// (X-Refusal-Status: a passing refusal told to an EventSource so that it tries again).
type openError struct {
	status  int
	refused int    // the X-Refusal-Status of a 200 refusal; 0 otherwise
	retry   int64  // ms the refusal asks the client to wait, -1 when it says nothing
	msg     string // the first line of the body, or the refusal's code
}

func (e *openError) Error() string {
	if e.refused != 0 {
		return fmt.Sprintf("refused %d (200, retry %d ms): %s", e.refused, e.retry, e.msg)
	}
	return fmt.Sprintf("status %d: %s", e.status, e.msg)
}

// openStream dials target from src, sends a GET for path with the extra header lines, and
// reads the response head. The stream is returned once the server told its position (its
// first id: line), so that every event published afterwards must reach it.
func openStream(ctx context.Context, target, src, path, header string, topic int, lat *hist) (*stream, error) {
	s := &stream{topic: topic, src: src, path: path, lat: lat, next: 1, fd: -1}
	if err := s.connect(ctx, target, header); err != nil {
		return nil, err
	}
	return s, nil
}

// connect opens the stream's request on target, as openStream says; again when it resumes
// (header then carries its Last-Event-ID). On success s reads the new connection with a new
// parser; on failure s is as it was.
func (s *stream) connect(ctx context.Context, target, header string) error {
	conn, err := dialer(s.src).DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	req := "GET " + s.path + " HTTP/1.1\r\nHost: " + target + "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n" + header + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	buf := make([]byte, 4096)
	n := 0
	var head []byte
	for {
		m, err := conn.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			head = buf[:i+4]
			break
		}
		if err != nil {
			return err
		}
		if n == len(buf) {
			return errors.New("response head too large")
		}
	}
	status, chunked, err := parseHead(head)
	if err != nil {
		return err
	}
	if status != 200 {
		return &openError{status: status, retry: -1, msg: firstLine(buf[len(head):n])}
	}
	if refused := headerInt(head, "X-Refusal-Status"); refused != 0 {
		return readRefusal(conn, chunked, refused, buf[len(head):n])
	}
	p := newParser(chunked, func(ev *sseEvent) { s.onEvent(ev, s.lat) })
	s.now = time.Now().UnixNano()
	if err := p.feed(buf[len(head):n]); err != nil {
		return err
	}
	for !p.positioned {
		m, err := conn.Read(buf)
		if m > 0 {
			s.now = time.Now().UnixNano()
			if err := p.feed(buf[:m]); err != nil {
				return err
			}
		}
		if err != nil {
			return fmt.Errorf("before the position: %w", err)
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	s.conn = conn
	if err := s.detach(); err != nil {
		s.conn = nil
		return err
	}
	s.p = p
	ok = true
	return nil
}

// readRefusal reads a 200 refusal to its end (the server closes it): its retry: delay and
// the code of its error event.
func readRefusal(conn net.Conn, chunked bool, refused int, first []byte) error {
	var body []byte
	p := newParser(chunked, func(*sseEvent) {})
	read := first
	buf := make([]byte, 4096)
	for {
		if len(body) < 4096 {
			body = append(body, read[:min(len(read), 4096-len(body))]...)
		}
		if p.feed(read) != nil { // the chunked body's end, or garbage
			break
		}
		m, err := conn.Read(buf)
		if err != nil && m == 0 {
			break
		}
		read = buf[:m]
	}
	code := "no error event"
	if _, rest, ok := bytes.Cut(body, []byte(`"code":"`)); ok {
		code, _, _ = strings.Cut(string(rest), `"`)
	}
	return &openError{status: 200, refused: refused, retry: p.retry, msg: code}
}

// detach takes the socket out of Go's network poller: the worker's own epoll loop reads
// every stream of the worker with one read system call per wake-up and no goroutine per
// stream, so that the load generator costs as little CPU as it can next to the server.
func (s *stream) detach() error {
	raw, err := s.conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var derr error
	if err := raw.Control(func(fd uintptr) { s.fd, derr = dupCloexec(int(fd)) }); err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	s.conn.Close() // the duplicate keeps the socket open
	s.conn = nil
	return nil
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// headerInt is the integer value of the header name in head, 0 when there is none.
func headerInt(head []byte, name string) int {
	for _, h := range bytes.Split(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(h, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			n, _ := strconv.Atoi(string(bytes.TrimSpace(v)))
			return n
		}
	}
	return 0
}

// parseHead reads the status code and whether the body is chunked.
func parseHead(head []byte) (int, bool, error) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	f := bytes.Fields(line)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	chunked := false
	for _, h := range bytes.Split(rest, []byte("\r\n")) {
		k, v, ok := bytes.Cut(h, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Transfer-Encoding")) &&
			bytes.Contains(bytes.ToLower(v), []byte("chunked")) {
			chunked = true
		}
	}
	return status, chunked, nil
}

func (s *stream) onEvent(ev *sseEvent, lat *hist) {
	s.events.Add(1)
	if s.onConfirm != nil {
		if string(ev.name) == "confirmed" && !s.confirmSeen.Load() {
			s.confirmSeen.Store(true)
			if t := s.confirmSent.Load(); t > 0 {
				s.onConfirm(time.Duration(s.now - t))
			}
		}
		return
	}
	if ev.ts > 0 {
		lat.record(time.Duration(s.now - ev.ts))
	}
	switch {
	case ev.seq < 0:
	case ev.seq == s.next:
		s.next++
	case ev.seq > s.next:
		s.gaps += ev.seq - s.next
		s.next = ev.seq + 1
	default:
		s.dup++
	}
}
