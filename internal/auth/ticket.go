package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrBadTicket covers unknown, expired and already used tickets alike.
var ErrBadTicket = errors.New("invalid, expired or used ticket")

// Tickets are single-use credentials for EventSource, which cannot send an Authorization
// header: a client with a token asks for one, then opens the stream with ?ticket=. Only a
// hash of each ticket is stored, so a Redis dump or MONITOR cannot replay one.
type Tickets struct {
	rdb redis.UniversalClient
	ttl time.Duration
}

// NewTickets keeps tickets in rdb for ttl.
func NewTickets(rdb redis.UniversalClient, ttl time.Duration) *Tickets {
	return &Tickets{rdb: rdb, ttl: ttl}
}

type ticketGrant struct {
	UID    string   `json:"uid"`
	Topics []string `json:"topics"`
}

// TicketHash is how a ticket is known once issued: its key in Redis and the binding of the
// resume cookie of the stream it opened.
func TicketHash(ticket string) string {
	sum := sha256.Sum256([]byte(ticket))
	return hex.EncodeToString(sum[:])
}

func ticketKey(hash string) string { return "sse:ticket:" + hash }

// Issue returns a new ticket that lets uid open one stream on topics.
func (t *Tickets) Issue(ctx context.Context, uid string, topics []string) (string, time.Time, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, err
	}
	ticket := base64.RawURLEncoding.EncodeToString(raw)
	grant, _ := json.Marshal(ticketGrant{UID: uid, Topics: topics})
	expires := time.Now().Add(t.ttl)
	if err := t.rdb.Set(ctx, ticketKey(TicketHash(ticket)), grant, t.ttl).Err(); err != nil {
		return "", time.Time{}, fmt.Errorf("store ticket: %w", err)
	}
	return ticket, expires, nil
}

// Redeem uses up a ticket and returns who it was for and the topics it grants. A second
// redemption, from anywhere, fails: GETDEL takes it atomically.
func (t *Tickets) Redeem(ctx context.Context, ticket string) (uid string, topics []string, err error) {
	if ticket == "" || len(ticket) > 128 {
		return "", nil, ErrBadTicket
	}
	raw, err := t.rdb.GetDel(ctx, ticketKey(TicketHash(ticket))).Bytes()
	if errors.Is(err, redis.Nil) {
		return "", nil, ErrBadTicket
	}
	if err != nil {
		return "", nil, fmt.Errorf("redeem ticket: %w", err)
	}
	var g ticketGrant
	if err := json.Unmarshal(raw, &g); err != nil || g.UID == "" {
		return "", nil, ErrBadTicket
	}
	return g.UID, g.Topics, nil
}
