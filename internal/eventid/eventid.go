// Package eventid parses, orders and prints the ids of events: a Redis Stream entry id
// ("<ms>-<seq>") per topic, and for a connection carrying several topics a cursor that holds
// one such id per topic, so that a single Last-Event-ID resumes every topic exactly.
package eventid

import (
	"strconv"
	"strings"
)

// ID is a Redis Stream entry id. Ids of one topic grow strictly; the ms part is the time the
// event was appended, which also gives the publish-to-delivery lag.
type ID struct {
	Ms, Seq uint64
}

// Zero is the position before any event.
var Zero ID

// Parse reads "<ms>-<seq>" (a bare "<ms>" means seq 0).
func Parse(s string) (ID, bool) {
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return ID{}, false
	}
	var seq uint64
	if hasSeq {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return ID{}, false
		}
	}
	return ID{Ms: ms, Seq: seq}, true
}

// MustParse is Parse for ids that come from Redis itself.
func MustParse(s string) ID {
	id, ok := Parse(s)
	if !ok {
		panic("eventid: not a stream id: " + s)
	}
	return id
}

// Less reports whether a comes before b.
func (a ID) Less(b ID) bool {
	return a.Ms < b.Ms || (a.Ms == b.Ms && a.Seq < b.Seq)
}

// IsZero reports whether a is the position before any event.
func (a ID) IsZero() bool { return a == Zero }

// Next is the smallest id after a: XRANGE from Next(a) reads what follows a.
func (a ID) Next() ID {
	if a.Seq == ^uint64(0) {
		return ID{Ms: a.Ms + 1}
	}
	return ID{Ms: a.Ms, Seq: a.Seq + 1}
}

// Prev is the largest id before a (a itself for Zero): a stream that starts at Prev(a)
// begins with the event a.
func (a ID) Prev() ID {
	switch {
	case a.Seq > 0:
		return ID{Ms: a.Ms, Seq: a.Seq - 1}
	case a.Ms > 0:
		return ID{Ms: a.Ms - 1, Seq: ^uint64(0)}
	}
	return a
}

// AppendTo appends "<ms>-<seq>" to dst.
func (a ID) AppendTo(dst []byte) []byte {
	dst = strconv.AppendUint(dst, a.Ms, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, a.Seq, 10)
}

func (a ID) String() string { return string(a.AppendTo(nil)) }
