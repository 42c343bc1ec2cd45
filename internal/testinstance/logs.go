package testinstance

import (
	"bytes"
	"sync"
)

const (
	headMax  = 256 << 10 // kept from the start: how trouble started
	tailMax  = 1 << 20   // the end is cut back to tailKeep when it grows past this
	tailKeep = 512 << 10
	lineMax  = 4 << 10 // how much of a line Watch looks at
)

// Logs keeps a process's output for error messages, bounded: the first 256 KiB and the last
// 512 KiB to 1 MiB. It also tells when a line holding a watched text has been written,
// wherever the bound cuts.
type Logs struct {
	mu      sync.Mutex
	head    []byte
	tail    []byte
	line    []byte // the line being written, up to lineMax
	watches []watch
}

type watch struct {
	text []byte
	seen chan struct{}
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	l.keep(p)
	for len(p) > 0 {
		end := bytes.IndexByte(p, '\n')
		part := p
		if end >= 0 {
			part = p[:end]
		}
		l.line = append(l.line, part[:min(len(part), lineMax-len(l.line))]...)
		if end < 0 {
			break
		}
		l.endLine()
		p = p[end+1:]
	}
	return n, nil
}

func (l *Logs) keep(p []byte) {
	if n := min(len(p), headMax-len(l.head)); n > 0 {
		l.head = append(l.head, p[:n]...)
		p = p[n:]
	}
	l.tail = append(l.tail, p...)
	if len(l.tail) > tailMax {
		l.tail = append([]byte(nil), l.tail[len(l.tail)-tailKeep:]...)
	}
}

func (l *Logs) endLine() {
	waiting := l.watches[:0]
	for _, w := range l.watches {
		if bytes.Contains(l.line, w.text) {
			close(w.seen)
		} else {
			waiting = append(waiting, w)
		}
	}
	l.watches = waiting
	l.line = l.line[:0]
}

// Watch returns a channel that is closed once a line containing text has been written.
// Output from before the call counts as far as the bound kept it: watch before starting the
// process to miss nothing.
func (l *Logs) Watch(text string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := watch{text: []byte(text), seen: make(chan struct{})}
	if bytes.Contains(l.head, w.text) || bytes.Contains(l.tail, w.text) {
		close(w.seen)
	} else {
		l.watches = append(l.watches, w)
	}
	return w.seen
}

// String is the output kept.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.head) + string(l.tail)
}

// seen reports whether ch, from Watch, is closed.
func seen(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
