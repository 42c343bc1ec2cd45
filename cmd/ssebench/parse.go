package main

import (
	"bytes"
	"errors"
)

// errEndOfStream is returned by feed when the server ended the chunked body.
var errEndOfStream = errors.New("end of stream")

var errBadChunk = errors.New("malformed chunked encoding")

// sseEvent is what the parser hands over for every dispatched event that carried data. Only
// the fields the benchmark needs are decoded: the sequence number and the send time the
// publisher put in the payload ({"s":<seq>,"t":<unix ns>,...}), and the event name.
type sseEvent struct {
	name []byte // valid only during the callback
	seq  int64  // -1 when the payload had none
	ts   int64  // unix ns; 0 when the payload had none
}

// parser decodes an HTTP/1.1 chunked body carrying an SSE stream, incrementally and without
// allocating per event: a load generator that parses 200,000 events per second next to the
// server it measures must cost as little CPU as possible.
type parser struct {
	chunked bool

	// chunk framing
	state    int // chunkSize, chunkData, chunkEnd
	size     int
	inExt    bool
	sawDigit bool
	left     int

	// line assembly: the part of a line that arrived without its LF yet
	partial []byte

	// the event being assembled
	ev      sseEvent
	hasData bool
	nameBuf [32]byte

	// what the stream told so far
	positioned bool   // an id: line arrived (the server subscribed the stream)
	comments   int    // comment lines (": ok", heartbeats)
	lastID     []byte // the last id: value, which a client resumes from (Last-Event-ID)
	retry      int64  // the last retry: value in ms, -1 before one

	onEvent func(*sseEvent)
}

const (
	chunkSize = iota
	chunkData
	chunkEnd
)

func newParser(chunked bool, onEvent func(*sseEvent)) *parser {
	p := &parser{chunked: chunked, onEvent: onEvent, retry: -1}
	p.ev.seq = -1
	return p
}

// feed consumes bytes read from the connection (after the response headers).
func (p *parser) feed(b []byte) error {
	if !p.chunked {
		p.data(b)
		return nil
	}
	for len(b) > 0 {
		switch p.state {
		case chunkSize:
			i := 0
			for ; i < len(b); i++ {
				c := b[i]
				if c == '\n' {
					break
				}
				if p.inExt || c == '\r' {
					continue
				}
				if c == ';' {
					p.inExt = true
					continue
				}
				v := unhex(c)
				if v < 0 {
					return errBadChunk
				}
				p.size = p.size<<4 | v
				p.sawDigit = true
			}
			if i == len(b) {
				return nil
			}
			b = b[i+1:]
			if !p.sawDigit {
				return errBadChunk
			}
			if p.size == 0 {
				return errEndOfStream
			}
			p.left, p.size, p.inExt, p.sawDigit = p.size, 0, false, false
			p.state = chunkData
		case chunkData:
			n := min(p.left, len(b))
			p.data(b[:n])
			b = b[n:]
			if p.left -= n; p.left == 0 {
				p.state = chunkEnd
			}
		case chunkEnd:
			// CRLF after the chunk's data
			c := b[0]
			b = b[1:]
			if c == '\n' {
				p.state = chunkSize
			} else if c != '\r' {
				return errBadChunk
			}
		}
	}
	return nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// data splits the stream's bytes into lines (LF or CRLF; the servers measured never send a
// bare CR).
func (p *parser) data(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			return
		}
		line := b[:i]
		b = b[i+1:]
		if len(p.partial) > 0 {
			p.partial = append(p.partial, line...)
			line = p.partial
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		p.line(line)
		p.partial = p.partial[:0]
	}
}

func (p *parser) line(l []byte) {
	if len(l) == 0 {
		if p.hasData {
			p.onEvent(&p.ev)
		}
		p.hasData = false
		p.ev = sseEvent{seq: -1}
		return
	}
	if l[0] == ':' {
		p.comments++
		return
	}
	field, value := l, []byte(nil)
	if i := bytes.IndexByte(l, ':'); i >= 0 {
		field, value = l[:i], l[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		p.hasData = true
		if v, ok := jsonInt(value, `"s":`); ok {
			p.ev.seq = v
		}
		if v, ok := jsonInt(value, `"t":`); ok {
			p.ev.ts = v
		}
	case "id":
		p.positioned = true
		p.lastID = append(p.lastID[:0], value...)
	case "retry":
		if v, ok := digits(value); ok {
			p.retry = v
		}
	case "event":
		n := copy(p.nameBuf[:], value)
		p.ev.name = p.nameBuf[:n]
	}
}

// jsonInt finds key (such as `"s":`) in a flat JSON object and reads the integer after it.
func jsonInt(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	return digits(b[i+len(key):])
}

// digits reads the integer b starts with.
func digits(b []byte) (int64, bool) {
	var v int64
	n := 0
	for ; n < len(b) && '0' <= b[n] && b[n] <= '9'; n++ {
		v = v*10 + int64(b[n]-'0')
	}
	return v, n > 0
}
