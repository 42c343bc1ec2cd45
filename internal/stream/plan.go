package stream

import (
	"context"
	"net/http"
	"time"
)

// Plan is what a stream's logic decided once it authorized the request: what the stream
// carries, whom it counts against, and until when it may run.
type Plan struct {
	// Topics the stream carries, in the order of its multi-topic cursor.
	Topics []string
	// UID is the user the stream is for ("": anonymous): presence counts the stream as
	// theirs, and a disconnect of the user ends it (Runtime.EndUser).
	UID string
	// Holder is whom the stream counts against in Limits.MaxStreamsPerUser: a uid, or for
	// anonymous clients "address:<ip>" ("": UID, or else the client's address).
	Holder string
	// From, when set, is where the stream starts, in Last-Event-ID form, instead of where
	// the client asks to resume: a position the logic read itself.
	From string
	// Until ends the stream, so that the client reconnects with a fresh credential and
	// resumes: the credential's expiry. Zero: no end.
	Until time.Time
	// Commit runs once the stream is admitted and subscribed, just before it opens: the last
	// check, for one that uses something up (a single-use ticket). Its error is the answer.
	Commit func(ctx context.Context) error
	// Cookies are set on the stream's response (a resume cookie); one without a Path is
	// scoped to the stream's own route.
	Cookies []*http.Cookie
}
