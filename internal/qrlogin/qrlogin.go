// Package qrlogin is the QR-code login state machine, kept in Redis so that every sse-api
// instance sees one truth and a browser's event stream on any instance hears every step.
//
// A session goes pending -> scanned -> confirmed -> consumed; cancelled and expired end it
// from any live state. Each transition is one Lua script that checks the state, the actor and
// the deadline (by the Redis clock), writes the new state and appends the event announcing it
// to the session's topic (Topic), all at once. Events carry the state and a masked hint only:
// never a uid, a secret or a token, because streams are replayed and may be logged.
//
//	st := qrlogin.NewStore(rdb, qrlogin.Config{})
//	sess, secret, _ := st.Create(ctx, qrlogin.Requester{IP: ip, UserAgent: ua}) // secret -> HttpOnly cookie
//	content := "sseapi://qr-login?id=" + sess.ID + "&key=" + sess.ScanKey         // what the QR shows
//	st.Scan(ctx, sess.ID, key, uid, "a***e")                                     // phone: the key it read, after checking its app token
//	st.Confirm(ctx, sess.ID, uid)
//	uid, _, err := st.Consume(ctx, sess.ID, secret)                              // browser: now issue its login
//
// Errors, in order of precedence (the first that applies wins):
//
//	ErrNotFound   no such session (or an id the server could not have made); for Scan also
//	              a wrong scan key, checked before anything else: the id alone names nothing
//	ErrForbidden  browser calls (CancelByBrowser, Consume) with the wrong secret: checked
//	              before the state, so knowing the id reveals nothing but existence
//	ErrGone       the session has ended or its deadline has passed
//	ErrConflict   phone calls before anyone scanned (Confirm, CancelByPhone), a second Scan
//	ErrForbidden  phone calls by anyone but the user who scanned
//	ErrConflict   any other call the state does not allow (Confirm twice, Consume too early)
//
// A call that finds a live session past its deadline first moves it to expired (so the
// event is pushed) and then answers as above. On any error the returned session is nil.
package qrlogin

import (
	"errors"
	"time"

	"github.com/sseapi/sse-api/publish"
)

// State is where a session stands.
type State string

const (
	Pending   State = "pending"   // shown as a QR, waiting for a phone
	Scanned   State = "scanned"   // a phone scanned it; waiting for that phone's confirmation
	Confirmed State = "confirmed" // the phone confirmed; waiting for the browser's exchange
	Consumed  State = "consumed"  // the browser exchanged it for a login
	Cancelled State = "cancelled" // the phone or the browser gave up
	Expired   State = "expired"   // its deadline passed first
)

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool {
	switch s {
	case Consumed, Cancelled, Expired:
		return true
	}
	return false
}

var (
	ErrNotFound  = errors.New("qrlogin: no such session")
	ErrConflict  = errors.New("qrlogin: the session's state does not allow this")
	ErrGone      = errors.New("qrlogin: the session has expired or ended")
	ErrForbidden = errors.New("qrlogin: not allowed for this user or browser")
	// ErrInvalidHint is a caller's bug: the hint is shown to the browser, so it must be short
	// printable text and must not be the uid itself.
	ErrInvalidHint = errors.New("qrlogin: hint must be at most 64 bytes of printable UTF-8 and not the uid")
)

// Config bounds a session's life. Zero fields take the defaults.
type Config struct {
	// TTL is how long a session lives from its creation (default 2 min).
	TTL time.Duration
	// ConfirmWindow is how long the phone has to confirm after it scanned (default 1 min);
	// the session ends at whichever deadline comes first.
	ConfirmWindow time.Duration
	// Retention is how long an ended session is kept (default 10 min), so late callers get
	// ErrGone rather than ErrNotFound.
	Retention time.Duration
}

func (c Config) withDefaults() Config {
	if c.TTL <= 0 {
		c.TTL = 2 * time.Minute
	}
	if c.ConfirmWindow <= 0 {
		c.ConfirmWindow = time.Minute
	}
	if c.Retention <= 0 {
		c.Retention = 10 * time.Minute
	}
	return c
}

// Requester is where the login request comes from, shown to the phone before it confirms so
// that a user can notice a relayed QR (QRLJacking).
type Requester struct {
	IP, UserAgent string
}

// Session is a snapshot of one QR login, taken atomically.
type Session struct {
	ID    string
	State State
	// CreatedAt is when the session began; ExpiresAt its effective deadline: after a scan,
	// the earlier of the overall deadline and ConfirmBefore.
	CreatedAt, ExpiresAt time.Time
	// ConfirmBefore is the end of the confirm window; zero before a scan.
	ConfirmBefore time.Time
	Requester     Requester
	// ScannedBy is the uid of the user who scanned. It never goes into an event.
	ScannedBy string
	// Hint is the masked name shown to the browser after the scan and after the confirm.
	Hint string
	// ScanKey goes into the QR beside the id: presenting it proves that the phone saw the
	// code, where the id alone travels in the browser's URLs, cookie paths and logs. It is no
	// secret from the browser, whose screen shows it; it never goes into an event.
	ScanKey string
	// Pos is the id of the topic event that announced State: a stream resuming after Pos
	// misses nothing that happened after this snapshot.
	Pos string
	// AsOf is the Redis clock when the snapshot was taken: the clock that judges the
	// deadlines, for a caller that times them on its own.
	AsOf time.Time

	secretSHA256 string // hex; only VerifyBrowser reads it
}

// Topic is the event topic of session id.
func Topic(id string) string { return "qr:" + id }

// sessionKey shares the hash tag of the topic's stream and meta keys (publish.StreamKey), so
// one script may touch all three in a Redis Cluster.
func sessionKey(id string) string { return publish.TopicKey(Topic(id), "session") }
