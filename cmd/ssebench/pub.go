package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// httpConn is a keep-alive HTTP/1.1 client connection that sends one request at a time. It
// costs much less CPU per request than net/http's client, which matters when the tool
// publishes tens of thousands of events per second next to the server it measures.
type httpConn struct {
	target, src string
	c           net.Conn
	br          *bufio.Reader
	req         []byte
}

func (h *httpConn) dial() error {
	c, err := dialer(h.src).Dial("tcp", h.target)
	if err != nil {
		return err
	}
	h.c, h.br = c, bufio.NewReaderSize(c, 4096)
	return nil
}

func (h *httpConn) close() {
	if h.c != nil {
		h.c.Close()
		h.c = nil
	}
}

// post sends a POST and returns the status and the response body (valid until the next call).
func (h *httpConn) post(path, header string, body []byte) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		if h.c == nil {
			if err := h.dial(); err != nil {
				return 0, nil, err
			}
		}
		b := h.req[:0]
		b = append(b, "POST "...)
		b = append(b, path...)
		b = append(b, " HTTP/1.1\r\nHost: "...)
		b = append(b, h.target...)
		b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
		b = append(b, header...)
		b = append(b, "\r\n"...)
		b = append(b, body...)
		h.req = b
		if _, err := h.c.Write(b); err != nil {
			h.close()
			if attempt == 0 {
				continue // a keep-alive connection the server had closed
			}
			return 0, nil, err
		}
		status, resp, err := h.readResponse()
		if err != nil {
			h.close()
			return 0, nil, err
		}
		return status, resp, nil
	}
}

func (h *httpConn) readResponse() (int, []byte, error) {
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	f := bytes.Fields(line)
	if len(f) < 2 {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		l, err := h.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		l = bytes.TrimRight(l, "\r\n")
		if len(l) == 0 {
			break
		}
		k, v, _ := bytes.Cut(l, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			closing = bytes.EqualFold(v, []byte("close"))
		}
	}
	var body []byte
	switch {
	case chunked:
		for {
			l, err := h.br.ReadSlice('\n')
			if err != nil {
				return 0, nil, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 32)
			if err != nil {
				return 0, nil, err
			}
			chunk := make([]byte, n+2)
			if _, err := io.ReadFull(h.br, chunk); err != nil {
				return 0, nil, err
			}
			if n == 0 {
				break
			}
			body = append(body, chunk[:n]...)
		}
	case length >= 0:
		body = make([]byte, length)
		if _, err := io.ReadFull(h.br, body); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, errors.New("response without length")
	}
	if closing {
		h.close()
	}
	return status, body, nil
}

// publisher sends events at a fixed rate (open loop): event i is due at start + i/rate.
// Topic k always goes through connection k % conns, one request at a time, so each topic's
// events reach the server in sequence order.
type publisher struct {
	kind    string   // "sse-api" or "ref"
	targets []string // instances; sse-api gets each event once (Redis fans it out to all),
	// every ref instance gets every event (it has no broker)
	header  string // Authorization for sse-api
	topics  []string
	padding string
	batch   int // events per request through sse-api's batch route; 0: single publishes

	// retryFailed: a failed publish is sent again until it is acknowledged or stopped is
	// set, as a publisher with a retry policy does (each failure is still counted).
	retryFailed bool
	stopped     atomic.Bool

	seq     []atomic.Int64 // per topic: highest sequence number acknowledged
	sent    atomic.Int64
	errs    atomic.Int64
	lastErr atomic.Value
	lat     hist // publish request round trip
}

func newPublisher(kind string, targets []string, header string, topics []string, payload int) *publisher {
	p := &publisher{kind: kind, targets: targets, header: header, topics: topics, seq: make([]atomic.Int64, len(topics))}
	// {"s":<seq>,"t":<19 digits>,"p":"..."} is about 40 bytes before the padding.
	if pad := payload - 40; pad > 0 {
		p.padding = string(bytes.Repeat([]byte("x"), pad))
	}
	return p
}

type pubJob struct {
	topic int
	seq   int64
}

func (p *publisher) body(buf []byte, topic int, seq int64) []byte {
	buf = buf[:0]
	if p.kind == "sse-api" {
		buf = append(buf, `{"event":"b","data":`...)
	}
	buf = append(buf, `{"s":`...)
	buf = strconv.AppendInt(buf, seq, 10)
	buf = append(buf, `,"t":`...)
	buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
	if p.padding != "" {
		buf = append(buf, `,"p":"`...)
		buf = append(buf, p.padding...)
		buf = append(buf, '"')
	}
	buf = append(buf, '}')
	if p.kind == "sse-api" {
		buf = append(buf, '}')
	}
	return buf
}

func (p *publisher) path(topic int) string {
	if p.batch > 0 {
		return "/v1/publish"
	}
	if p.kind == "sse-api" {
		return "/v1/topics/" + p.topics[topic] + "/events"
	}
	return "/publish?topic=" + p.topics[topic]
}

func (p *publisher) fail(err error) {
	p.errs.Add(1)
	p.lastErr.Store(err.Error())
}

// batchBody is the body of a batch of p.batch events on topic, sequence numbers from seq on.
func (p *publisher) batchBody(buf []byte, topic int, seq int64) []byte {
	buf = append(buf[:0], `{"events":[`...)
	var event []byte
	for k := range p.batch {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"topic":"`...)
		buf = append(buf, p.topics[topic]...)
		buf = append(buf, `",`...)
		// p.body's {"event":"b","data":...} less its opening brace.
		event = p.body(event, topic, seq+int64(k))
		buf = append(buf, event[1:]...)
	}
	return append(buf, "]}"...)
}

// sendBatch publishes p.batch events through the batch route (sse-api), from j.seq on.
func (p *publisher) sendBatch(c *httpConn, buf []byte, j pubJob) []byte {
	buf = p.batchBody(buf, j.topic, j.seq)
	t0 := time.Now()
	status, resp, err := c.post(p.path(j.topic), p.header, buf)
	switch {
	case err != nil:
		p.fail(err)
		return buf
	case status != 201:
		p.fail(fmt.Errorf("publish batch: %d %s", status, resp))
		return buf
	}
	p.lat.record(time.Since(t0))
	p.seq[j.topic].Store(j.seq + int64(p.batch) - 1)
	p.sent.Add(int64(p.batch))
	return buf
}

// send publishes one event through conns (one per target) and records its acknowledgement.
func (p *publisher) send(conns []*httpConn, buf []byte, j pubJob) []byte {
	targets := conns
	if p.kind == "sse-api" {
		targets = conns[j.seq%int64(len(conns)) : j.seq%int64(len(conns))+1]
	}
	for _, c := range targets {
		for {
			buf = p.body(buf, j.topic, j.seq)
			t0 := time.Now()
			status, resp, err := c.post(p.path(j.topic), p.header, buf)
			if err == nil && status != 201 {
				err = fmt.Errorf("publish: %d %s", status, resp)
			}
			if err == nil {
				p.lat.record(time.Since(t0))
				break
			}
			p.fail(err)
			// A failed publish leaves a hole in its topic's sequence numbers, which the
			// streams would count as lost, unless it is sent again.
			if !p.retryFailed || p.stopped.Load() {
				return buf
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	p.seq[j.topic].Store(j.seq)
	p.sent.Add(1)
	return buf
}

func (p *publisher) dialAll(src string) []*httpConn {
	conns := make([]*httpConn, len(p.targets))
	for i, t := range p.targets {
		conns[i] = &httpConn{target: t, src: src}
	}
	return conns
}

// run publishes count events at rate per second over the topics in turn, through nconns
// connections, and returns when all were sent or ctx ends.
func (p *publisher) run(ctx context.Context, rate float64, count int64, nconns int) {
	nconns = max(1, min(nconns, len(p.topics)))
	jobs := make([]chan pubJob, nconns)
	var wg sync.WaitGroup
	for i := range jobs {
		jobs[i] = make(chan pubJob, 1024)
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns := p.dialAll("127.0.0.1")
			defer func() {
				for _, c := range conns {
					c.close()
				}
			}()
			var buf []byte
			for j := range jobs[i] {
				// Once stopped, a failed publish is given up: what is queued behind it must
				// not be published past the hole it leaves.
				if p.retryFailed && p.stopped.Load() {
					continue
				}
				buf = p.send(conns, buf, j)
			}
		}()
	}
	next := make([]int64, len(p.topics))
	start := time.Now()
	for i := int64(0); i < count; i++ {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				i = count
				continue
			}
		}
		k := int(i % int64(len(p.topics)))
		next[k]++
		select {
		case jobs[k%nconns] <- pubJob{topic: k, seq: next[k]}:
		case <-ctx.Done():
			i = count
		}
	}
	for _, ch := range jobs {
		close(ch)
	}
	wg.Wait()
}

// expect is the highest acknowledged sequence number of every topic.
func (p *publisher) expect() []int64 {
	out := make([]int64, len(p.topics))
	for i := range p.seq {
		out[i] = p.seq[i].Load()
	}
	return out
}

// flood publishes as fast as nconns connections allow (closed loop) until ctx ends: the
// publish-throughput scenario.
func (p *publisher) flood(ctx context.Context, nconns int) {
	var wg sync.WaitGroup
	for i := 0; i < nconns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns := p.dialAll(sourceAddr(i, 1000))
			defer func() {
				for _, c := range conns {
					c.close()
				}
			}()
			var buf []byte
			var seq int64
			for ctx.Err() == nil {
				seq++
				j := pubJob{topic: i % len(p.topics), seq: seq}
				if p.batch > 0 {
					buf = p.sendBatch(conns[0], buf, j)
					seq += int64(p.batch) - 1
					continue
				}
				buf = p.send(conns, buf, j)
			}
		}()
	}
	wg.Wait()
}
