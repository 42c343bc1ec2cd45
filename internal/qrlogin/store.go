package qrlogin

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/sseapi/sse-api/publish"
)

var (
	//go:embed common.lua
	commonLua string
	//go:embed create.lua
	createLua string
	//go:embed get.lua
	getLua string
	//go:embed scan.lua
	scanLua string
	//go:embed confirm.lua
	confirmLua string
	//go:embed cancel_phone.lua
	cancelPhoneLua string
	//go:embed cancel_browser.lua
	cancelBrowserLua string
	//go:embed consume.lua
	consumeLua string

	createScript        = newScript(createLua)
	getScript           = newScript(getLua)
	scanScript          = newScript(scanLua)
	confirmScript       = newScript(confirmLua)
	cancelPhoneScript   = newScript(cancelPhoneLua)
	cancelBrowserScript = newScript(cancelBrowserLua)
	consumeScript       = newScript(consumeLua)
)

// newScript prepends sse_append and the shared helpers, so each transition and its event are
// committed together.
func newScript(body string) *redis.Script {
	return redis.NewScript(publish.AppendLua + "\n" + commonLua + "\n" + body)
}

// Limits on what a session stores from its requester: enough to show, too little to abuse.
const (
	maxIPLen   = 64
	maxUALen   = 512
	maxHintLen = 64
)

// Store keeps QR login sessions in Redis. It is safe for concurrent use, and any number of
// Stores (on any number of instances) may share one Redis.
type Store struct {
	rdb redis.UniversalClient
	cfg Config
	// announce is the command announcing transitions (see publish.AnnounceCommand).
	announce string
}

// NewStore returns a Store on rdb (standalone, Sentinel or Cluster).
func NewStore(rdb redis.UniversalClient, cfg Config) *Store {
	return &Store{rdb: rdb, cfg: cfg.withDefaults(), announce: publish.AnnounceCommand(rdb)}
}

// Create starts a pending session for the browser described by req and announces it on the
// session's topic. It returns the session and the browser's secret: hand the secret to that
// browser only (an HttpOnly cookie), never put it in the QR; it is not stored and cannot be
// recovered.
func (s *Store) Create(ctx context.Context, req Requester) (*Session, string, error) {
	id := newID()
	secret, digest := newSecret()
	outcome, fields, err := s.run(ctx, createScript, id,
		s.cfg.TTL.Milliseconds(), digest, clip(req.IP, maxIPLen), clip(req.UserAgent, maxUALen))
	if err != nil {
		return nil, "", err
	}
	if outcome == "exists" {
		// 128 random bits do not collide; if they did, the random source is broken and
		// retrying would only hide it.
		return nil, "", fmt.Errorf("qrlogin: fresh id %s already in use", id)
	}
	sess, err := s.result(id, outcome, fields)
	if err != nil {
		return nil, "", err
	}
	return sess, secret, nil
}

// Get returns the session as it is now. A live session past its deadline is moved to expired
// first (and the expired event is pushed), so Get never reports a state that can no longer
// move as if it could. It does not check the browser's secret: see VerifyBrowser.
func (s *Store) Get(ctx context.Context, id string) (*Session, error) {
	return s.transition(ctx, getScript, id)
}

// Expire is for the timer that pushes expiry on time (Redis keyspace notifications come
// only when the key is evicted, which can be much later). If the session's deadline has
// passed by the Redis clock and it is still live, it moves to expired and the event is
// pushed; otherwise nothing changes. It returns the session as it now is. Calling it early,
// late or many times is harmless.
func (s *Store) Expire(ctx context.Context, id string) (*Session, error) {
	return s.transition(ctx, getScript, id)
}

// Scan records that the user uid scanned the QR (pending -> scanned) and starts the confirm
// window. hint is what the browser is shown of that user (e.g. "a***e"); uid itself stays in
// Redis and in the returned session, for the phone's confirmation screen. Call it only with
// the uid of a verified app token.
func (s *Store) Scan(ctx context.Context, id, uid, hint string) (*Session, error) {
	if uid == "" {
		return nil, ErrForbidden
	}
	if !validHint(hint, uid) {
		return nil, ErrInvalidHint
	}
	return s.transition(ctx, scanScript, id, uid, hint, s.cfg.ConfirmWindow.Milliseconds())
}

// Confirm records the scanning user's consent (scanned -> confirmed).
func (s *Store) Confirm(ctx context.Context, id, uid string) (*Session, error) {
	if uid == "" {
		return nil, ErrForbidden
	}
	return s.transition(ctx, confirmScript, id, uid)
}

// CancelByPhone ends a scanned or confirmed session at the request of the user who scanned it.
func (s *Store) CancelByPhone(ctx context.Context, id, uid string) (*Session, error) {
	if uid == "" {
		return nil, ErrForbidden
	}
	return s.transition(ctx, cancelPhoneScript, id, uid)
}

// CancelByBrowser ends a live session at the request of the browser holding its secret.
func (s *Store) CancelByBrowser(ctx context.Context, id, secret string) (*Session, error) {
	return s.transition(ctx, cancelBrowserScript, id, secretDigest(secret))
}

// Consume is the browser's exchange: it ends a confirmed session (confirmed -> consumed) and
// returns the uid to log the browser in as. It succeeds once per session, whatever the
// number of concurrent callers; the login it leads to must be handed out in this call's
// response, never through the event stream.
func (s *Store) Consume(ctx context.Context, id, secret string) (string, *Session, error) {
	sess, err := s.transition(ctx, consumeScript, id, secretDigest(secret))
	if err != nil {
		return "", nil, err
	}
	return sess.ScannedBy, sess, nil
}

// transition runs one script on session id and turns its answer into a session or an error.
func (s *Store) transition(ctx context.Context, script *redis.Script, id string, args ...any) (*Session, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	outcome, fields, err := s.run(ctx, script, id, args...)
	if err != nil {
		return nil, err
	}
	return s.result(id, outcome, fields)
}

// run calls script with the keys and leading arguments common.lua expects, and returns the
// script's outcome and the session's fields as they are after it.
func (s *Store) run(ctx context.Context, script *redis.Script, id string, args ...any) (string, map[string]string, error) {
	topic := Topic(id)
	keys := []string{sessionKey(id), publish.StreamKey(topic), publish.MetaKey(topic)}
	argv := append([]any{publish.Channel(topic), s.announce, s.cfg.Retention.Milliseconds()}, args...)
	reply, err := script.Run(ctx, s.rdb, keys, argv...).Slice()
	if err != nil {
		return "", nil, fmt.Errorf("qrlogin %s: %w", id, err)
	}
	outcome, _ := reply[0].(string)
	fields := map[string]string{}
	if len(reply) > 1 {
		flat, _ := reply[1].([]any)
		for i := 0; i+1 < len(flat); i += 2 {
			k, _ := flat[i].(string)
			v, _ := flat[i+1].(string)
			fields[k] = v
		}
	}
	return outcome, fields, nil
}

func (s *Store) result(id, outcome string, fields map[string]string) (*Session, error) {
	switch outcome {
	case "ok":
		return parseSession(id, fields)
	case "notfound":
		return nil, ErrNotFound
	case "gone":
		return nil, ErrGone
	case "forbidden":
		return nil, ErrForbidden
	case "conflict":
		return nil, ErrConflict
	}
	return nil, fmt.Errorf("qrlogin %s: unexpected script outcome %q", id, outcome)
}

var errCorrupt = errors.New("corrupt session hash")

func parseSession(id string, f map[string]string) (*Session, error) {
	ms := func(name string) (time.Time, error) {
		v, ok := f[name]
		if !ok {
			return time.Time{}, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("qrlogin %s: %w: %s=%q", id, errCorrupt, name, v)
		}
		return time.UnixMilli(n), nil
	}
	sess := &Session{
		ID:           id,
		State:        State(f["state"]),
		Requester:    Requester{IP: f["ip"], UserAgent: f["ua"]},
		ScannedBy:    f["uid"],
		Hint:         f["hint"],
		Pos:          f["pos"],
		secretSHA256: f["secret_sha256"],
	}
	var err error
	if sess.CreatedAt, err = ms("created"); err != nil {
		return nil, err
	}
	if sess.ExpiresAt, err = ms("expires"); err != nil {
		return nil, err
	}
	if sess.ConfirmBefore, err = ms("confirm_before"); err != nil {
		return nil, err
	}
	if !sess.ConfirmBefore.IsZero() && sess.ConfirmBefore.Before(sess.ExpiresAt) {
		sess.ExpiresAt = sess.ConfirmBefore
	}
	if sess.State == "" || sess.CreatedAt.IsZero() || sess.ExpiresAt.IsZero() || sess.Pos == "" {
		return nil, fmt.Errorf("qrlogin %s: %w: missing fields", id, errCorrupt)
	}
	return sess, nil
}

// validHint accepts short printable text that is not the uid: the hint is published to the
// browser's stream, where the uid must never appear.
func validHint(hint, uid string) bool {
	if len(hint) > maxHintLen || !utf8.ValidString(hint) || hint == uid {
		return false
	}
	return strings.IndexFunc(hint, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// clip cuts s to at most n bytes of valid UTF-8, so a cut never leaves half a character.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}
