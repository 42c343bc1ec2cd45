// Package access decides what a stream request may read. Grant resolves the request's
// credentials (a Bearer token, the access_token cookie, a single-use ticket, a ticket's
// resume cookie, or none); Plan checks the topics a route wants against the grant and says
// how the stream runs: whom it counts against, until when, which cookie it renews, and the
// ticket it spends, last, once everything else was checked.
package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/keywatch"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/stream"
	"github.com/sseapi/sse-api/publish"
)

// Limiter takes one from key's budget and reports whether there was one.
type Limiter func(ctx context.Context, key string) (bool, error)

// Config is what access needs of the service's settings.
type Config struct {
	Public    auth.Patterns // topics anyone may read
	MaxTopics int           // per stream
	// ResumeTTL is the life of a resume cookie (never past its credential's expiry);
	// ResumeCookiePath scopes it to the stream routes as browsers see them.
	ResumeTTL        time.Duration
	ResumeCookiePath string
	SecureCookies    bool
	// Keys says which Redis keys may be read as topics "key:<name>" (nil: none).
	Keys KeyRules
	// MaxPayload bounds the data of each event of a batch, in bytes (0: no bound).
	MaxPayload int64
}

// KeyRules are the rules of watched keys (internal/keywatch).
type KeyRules interface {
	// Watchable says whether key may be watched, and whether anyone may read it.
	Watchable(key string) (public, ok bool)
}

// Access resolves stream requests.
type Access struct {
	auth      *auth.Authenticator
	anonymous Limiter
	conf      Config
}

// New returns the access rules of a service; anonymous bounds, per client address, the
// requests that carry no token (anonymous streams and ticket redemptions).
func New(a *auth.Authenticator, anonymous Limiter, c Config) *Access {
	return &Access{auth: a, anonymous: anonymous, conf: c}
}

// Grant resolves who r comes from. Requests without a token are rate limited per client
// address before anything else, ticket guesses included. A ticket is only looked at here:
// Plan spends it, last.
func (a *Access) Grant(ctx context.Context, r *http.Request) (auth.Grant, error) {
	creds := auth.CredentialsOf(r)
	if !creds.HasToken() {
		ok, err := a.anonymous(ctx, middleware.ClientAddr(ctx))
		if err != nil {
			return auth.Grant{}, apierr.Internal(err)
		}
		if !ok {
			return auth.Grant{}, apierr.TooManyRequests("too many requests without a token from this address")
		}
	}
	grant, err := a.auth.Subscriber(ctx, creds)
	if err != nil {
		return auth.Grant{}, Refusal(err)
	}
	return grant, nil
}

// Refusal is the answer to a credential the Authenticator refused: 401, or 503 when
// whether it was revoked cannot be read.
func Refusal(err error) error {
	switch {
	case errors.Is(err, auth.ErrBadToken), errors.Is(err, auth.ErrBadTicket), errors.Is(err, auth.ErrNoCredentials),
		errors.Is(err, auth.ErrRevoked):
		return apierr.Unauthorized(err.Error())
	case errors.Is(err, auth.ErrRevocationUnknown):
		return apierr.Unavailable(err.Error())
	default:
		return apierr.Internal(err)
	}
}

// Plan checks that g may read every topic and says how the stream runs: it counts against
// the user (anonymous clients: their address); it ends when its credential does; a
// ticket's stream renews the ticket's resume cookie, ends before the cookie does, so the
// reconnect renews it, and spends the ticket as it opens.
func (a *Access) Plan(ctx context.Context, g auth.Grant, topics []string) (stream.Plan, error) {
	topics, err := a.Topics(topics)
	if err != nil {
		return stream.Plan{}, err
	}
	for _, t := range topics {
		public, err := a.watchable(t)
		if err != nil {
			return stream.Plan{}, err
		}
		if public || g.Allows(t, a.conf.Public) {
			continue
		}
		if !g.Authenticated() {
			return stream.Plan{}, apierr.Unauthorized("topic " + t + " needs credentials")
		}
		return stream.Plan{}, apierr.Forbidden("not allowed to subscribe to " + t)
	}
	p := stream.Plan{Topics: topics, UID: g.UID, Holder: g.UID, Until: g.Expires}
	if !g.Authenticated() {
		p.Holder = "address:" + middleware.ClientAddr(ctx)
	}
	if g.Via != auth.ViaTicket && g.Via != auth.ViaResume {
		return p, nil
	}
	now := time.Now()
	cookieEnd := now.Add(a.conf.ResumeTTL)
	if !g.Expires.IsZero() && g.Expires.Before(cookieEnd) {
		cookieEnd = g.Expires
	}
	cookie, err := a.auth.Tokens.ResumeCookie(auth.ResumeGrant{
		UID: g.UID, Topics: g.Topics, TicketHash: g.TicketHash, CredentialExpires: g.Expires,
		CredentialIssued: g.IssuedAt,
	}, a.conf.ResumeCookiePath, cookieEnd, a.conf.SecureCookies)
	if err != nil {
		return stream.Plan{}, apierr.Internal(err)
	}
	p.Cookies = []*http.Cookie{cookie}
	// Half the cookie's life, so the reconnect renews it; never past the credential.
	p.Until = now.Add(a.conf.ResumeTTL / 2)
	if !g.Expires.IsZero() && g.Expires.Before(p.Until) {
		p.Until = g.Expires
	}
	if g.Via == auth.ViaTicket {
		p.Commit = func(ctx context.Context) error {
			err := a.auth.Tickets.Spend(ctx, g.TicketHash)
			switch {
			case errors.Is(err, auth.ErrBadTicket):
				return apierr.Unauthorized(err.Error())
			case err != nil:
				return apierr.Internal(err)
			}
			return nil
		}
	}
	return p, nil
}

// MayRead checks that the user id may read topic, as Plan would for a token of theirs.
func (a *Access) MayRead(id auth.Identity, topic string) error {
	public, err := a.watchable(topic)
	switch {
	case err != nil:
		return err
	case public || id.CanSubscribe(topic, a.conf.Public):
		return nil
	}
	return apierr.Forbidden("not allowed to subscribe to " + topic)
}

// KeyPrefix starts the topic of a watched Redis key: "key:<name>" (internal/keywatch).
const KeyPrefix = keywatch.TopicPrefix

// watchable checks a key's topic against the Watch rules before anything is read: a key no
// rule matches cannot be read by anyone (403); one a public rule matches, by everyone.
// Other topics are not public here, and no error.
func (a *Access) watchable(topic string) (public bool, err error) {
	key, isKey := strings.CutPrefix(topic, KeyPrefix)
	if !isKey {
		return false, nil
	}
	ok := false
	if a.conf.Keys != nil {
		public, ok = a.conf.Keys.Watchable(key)
	}
	if !ok {
		return false, apierr.Forbidden(fmt.Sprintf("key %q matches no Watch.Keys rule: it cannot be watched", key))
	}
	return public, nil
}

// Publishable reports whether topic may be published to at all: not a reserved topic, not
// a watched key's, whose events are the key's changes, made in Redis by whoever owns it,
// and not a presence topic, whose join and leave events only the service tells.
func Publishable(topic string) bool {
	return !Reserved(topic) && !publish.KeyTopic(topic) && !strings.HasPrefix(topic, PresencePrefix)
}

// PresencePrefix starts the companion topic of a topic's join and leave events:
// "presence:<topic>" (internal/presence).
const PresencePrefix = "presence:"

// ReservedPrefix starts topics that only the service itself writes and that are read
// through their own routes: QR-login sessions ("qr:<id>") are bound to the browser that
// created them, which the topic routes cannot check.
const ReservedPrefix = "qr:"

// Reserved reports whether topic is reserved (see ReservedPrefix).
func Reserved(topic string) bool { return strings.HasPrefix(topic, ReservedPrefix) }

// Topics checks the topics of a request: at least one, at most the configured number, each
// well formed and not reserved. Repeats are dropped, order is kept.
func (a *Access) Topics(topics []string) ([]string, error) {
	if len(topics) == 0 {
		return nil, apierr.BadRequest("name at least one topic")
	}
	seen := make(map[string]bool, len(topics))
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if !publish.ValidTopic(t) {
			return nil, apierr.BadRequest(fmt.Sprintf("malformed topic %q: want [A-Za-z0-9_.:-]{1,128}", t))
		}
		if Reserved(t) {
			return nil, apierr.Forbidden(fmt.Sprintf("topic %q is reserved", t))
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) > a.conf.MaxTopics {
		return nil, apierr.BadRequest(fmt.Sprintf("at most %d topics per stream", a.conf.MaxTopics))
	}
	return out, nil
}

// CheckPublish checks one event's topic and name, and that who may publish to the topic:
// 400 for a malformed topic or name, 403 for a topic who may not write (a watched key's
// topic is read-only for everyone: it says so).
func (a *Access) CheckPublish(who auth.Identity, topic, event string) error {
	switch {
	case !publish.ValidTopic(topic):
		return apierr.BadRequest("malformed topic: want [A-Za-z0-9_.:-]{1,128}")
	case event != "" && !publish.ValidEvent(event):
		return apierr.BadRequest("malformed event name: want [A-Za-z0-9_.:-]{1,64}, not reset or error (the service's own)")
	case publish.KeyTopic(topic):
		return apierr.Forbidden(publish.ErrKeyTopic.Error())
	case !Publishable(topic) || !who.CanPublish(topic):
		return apierr.Forbidden("not allowed to publish to this topic")
	}
	return nil
}

// CheckBatch checks a batch of events before any of it is written: at most maxBatch events
// (413), each well formed (400) with its data within Config.MaxPayload (413), then each on a
// topic who may publish to (403). Every refusal names the index of the event it is about.
func (a *Access) CheckBatch(who auth.Identity, events []publish.Event, maxBatch int) error {
	switch {
	case len(events) == 0:
		return apierr.BadRequest("the batch holds no event")
	case len(events) > maxBatch:
		return apierr.TooLarge(fmt.Sprintf("the batch holds %d events, at most %d are allowed", len(events), maxBatch))
	}
	for i, e := range events {
		switch {
		case !publish.ValidTopic(e.Topic):
			return apierr.BadRequest(fmt.Sprintf("event %d: malformed topic: want [A-Za-z0-9_.:-]{1,128}", i))
		case e.Event != "" && !publish.ValidEvent(e.Event):
			return apierr.BadRequest(fmt.Sprintf("event %d: malformed event name: want [A-Za-z0-9_.:-]{1,64}, not reset or error (the service's own)", i))
		case len(e.Data) == 0:
			return apierr.BadRequest(fmt.Sprintf(`event %d: "data" is required`, i))
		case !json.Valid(e.Data):
			return apierr.BadRequest(fmt.Sprintf("event %d: data is not valid JSON", i))
		case a.conf.MaxPayload > 0 && int64(len(e.Data)) > a.conf.MaxPayload:
			return apierr.TooLarge(fmt.Sprintf("event %d: data is larger than %d bytes", i, a.conf.MaxPayload))
		}
	}
	for i, e := range events {
		if !Publishable(e.Topic) || !who.CanPublish(e.Topic) {
			return apierr.Forbidden(fmt.Sprintf("event %d: not allowed to publish to %s", i, e.Topic))
		}
	}
	return nil
}

// PublishBatch checks events as CheckBatch does and publishes them with pub, all or none:
// what the HTTP and zRPC batch routes share. A batch written in part (only in a Redis
// Cluster with a node out of reach) is a 503 that names the topics written and those not,
// for the caller to publish again.
func (a *Access) PublishBatch(ctx context.Context, pub *publish.Publisher, who auth.Identity, events []publish.Event, maxBatch int) ([]string, error) {
	if err := a.CheckBatch(who, events, maxBatch); err != nil {
		return nil, err
	}
	ids, err := pub.PublishBatch(ctx, events)
	var partial *publish.PartialError
	switch {
	case errors.As(err, &partial):
		metrics.Published.Add(float64(countWritten(partial.IDs)))
		logx.WithContext(ctx).Errorf("batch publish written in part: %v", err)
		return nil, apierr.Unavailable(fmt.Sprintf("only part of the batch was written: the events of %s were, "+
			"those of %s were not; publish those again", strings.Join(partial.Written, ", "), strings.Join(partial.Failed, ", ")))
	case err != nil:
		return nil, apierr.Internal(err)
	}
	metrics.Published.Add(float64(len(ids)))
	return ids, nil
}

func countWritten(ids []string) int {
	n := 0
	for _, id := range ids {
		if id != "" {
			n++
		}
	}
	return n
}
