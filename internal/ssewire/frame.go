package ssewire

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// ErrInvalidField is returned when an id, event or comment value contains CR, LF or NUL.
//
// CR and LF would end the line early, and whatever follows would be read as a new line:
// a forged "event:", "id:" or "retry:" field, or a blank line that dispatches half an event.
// A client ignores an id containing NUL, so the position it reports on reconnect would be
// stale without anyone noticing; NUL is refused in every field so there is one rule.
var ErrInvalidField = errors.New("field value contains CR, LF or NUL")

// The wrapped errors are built once so that rejecting a field does not allocate either.
var (
	errInvalidID      = fmt.Errorf("ssewire: id: %w", ErrInvalidField)
	errInvalidEvent   = fmt.Errorf("ssewire: event: %w", ErrInvalidField)
	errInvalidComment = fmt.Errorf("ssewire: comment: %w", ErrInvalidField)
)

// ValidField reports whether s can be sent as an id, event or comment value:
// it must not contain CR, LF or NUL.
func ValidField(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\r', '\n', 0:
			return false
		}
	}
	return true
}

// AppendBody appends the part of an event that is the same for every subscriber: an
// "event: <event>\n" line (left out when event is "", which clients read as "message")
// and one "data: <line>\n" per line of data. It returns ErrInvalidField, and dst unchanged,
// when event contains CR, LF or NUL. Render once, then hand the bytes to WriteFrame of
// every subscriber.
//
// Data is split at CRLF, bare LF and bare CR, the three line ends a client recognises, so
// a CR in user data cannot smuggle in a field. Every line gets "data: " (colon and one
// space): clients strip exactly one space after the colon, so a line that begins with a
// space or a colon arrives intact. NUL and any other byte pass through untouched.
//
// A client joins the data lines with LF and drops one final LF. So data that ends in a
// line break gets a last, empty "data: " line and "a\n" arrives as "a\n", not "a".
// The client sees CR and CRLF as LF, which is the only change a payload undergoes.
//
// Empty data is sent as one empty line, "data: \n". Clients dispatch that as an event
// whose data is "" (the WHATWG spec's own example: "data\n\n" fires an event with empty
// data). What clients do not dispatch is an event with no data line at all; this
// function never produces one, so every frame is delivered.
func AppendBody(dst []byte, event string, data []byte) ([]byte, error) {
	if !ValidField(event) {
		return dst, errInvalidEvent
	}
	dst = slices.Grow(dst, len("event: \n")+len(event)+len("data: \n")+len(data))
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	return appendData(dst, data), nil
}

// appendData writes data as "data: " lines, as described in AppendBody.
//
// It searches with bytes.IndexByte, which is vectorised, rather than looking at every byte.
// The position of the next LF is remembered between lines, so data made of many CRs and no
// LF does not rescan the rest of the payload for an LF on every line: the work stays linear.
func appendData(dst, data []byte) []byte {
	start := 0
	nextLF := -1 // index of the first LF at or after start, len(data) if there is none
	for {
		if nextLF < start {
			nextLF = len(data)
			if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
				nextLF = start + i
			}
		}
		end := nextLF // end of this line: the first CR or LF, or the end of data
		if i := bytes.IndexByte(data[start:nextLF], '\r'); i >= 0 {
			end = start + i
		}
		dst = append(dst, "data: "...)
		dst = append(dst, data[start:end]...)
		dst = append(dst, '\n')
		if end == len(data) {
			return dst
		}
		start = end + 1
		if data[end] == '\r' && start < len(data) && data[start] == '\n' {
			start++ // CRLF is one line break, not two
		}
	}
}
