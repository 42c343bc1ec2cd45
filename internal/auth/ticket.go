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

	"github.com/sseapi/sse-api/publish"
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

// TicketGrant is what a ticket lets its bearer open.
type TicketGrant struct {
	UID    string   `json:"uid"`
	Topics []string `json:"topics"`
	// CredentialExpires is when the token the ticket was issued for expires: streams and
	// resume cookies the ticket opens end then too (zero: unknown).
	CredentialExpires time.Time `json:"cexp,omitzero"`
	// CredentialIssued is when that token was issued (zero: it had no iat): a revocation
	// of the user refuses the ticket as it refuses the token.
	CredentialIssued time.Time `json:"ciat,omitzero"`
}

// TicketHash is how a ticket is known once issued: its key in Redis and the binding of the
// resume cookie of the stream it opened.
func TicketHash(ticket string) string {
	sum := sha256.Sum256([]byte(ticket))
	return hex.EncodeToString(sum[:])
}

func ticketKey(hash string) string { return publish.Key("ticket", hash) }

// Issue returns a new ticket that lets g.UID open one stream on g.Topics.
func (t *Tickets) Issue(ctx context.Context, g TicketGrant) (string, time.Time, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, err
	}
	ticket := base64.RawURLEncoding.EncodeToString(raw)
	value, _ := json.Marshal(g)
	expires := time.Now().Add(t.ttl)
	if err := t.rdb.Set(ctx, ticketKey(TicketHash(ticket)), value, t.ttl).Err(); err != nil {
		return "", time.Time{}, fmt.Errorf("store ticket: %w", err)
	}
	return ticket, expires, nil
}

// Peek returns what a ticket grants without using it up: a stream checks everything else
// first and spends the ticket last (Spend), so a request refused for another reason leaves
// the ticket usable.
func (t *Tickets) Peek(ctx context.Context, ticket string) (TicketGrant, error) {
	if ticket == "" || len(ticket) > 128 {
		return TicketGrant{}, ErrBadTicket
	}
	raw, err := t.rdb.Get(ctx, ticketKey(TicketHash(ticket))).Bytes()
	if errors.Is(err, redis.Nil) {
		return TicketGrant{}, ErrBadTicket
	}
	if err != nil {
		return TicketGrant{}, fmt.Errorf("read ticket: %w", err)
	}
	var g TicketGrant
	if err := json.Unmarshal(raw, &g); err != nil || g.UID == "" {
		return TicketGrant{}, ErrBadTicket
	}
	return g, nil
}

// Spend uses up the ticket with hash. Of two requests that peeked at the same ticket, one
// spends it and the other gets ErrBadTicket: DEL answers only one of them 1.
func (t *Tickets) Spend(ctx context.Context, hash string) error {
	n, err := t.rdb.Del(ctx, ticketKey(hash)).Result()
	if err != nil {
		return fmt.Errorf("spend ticket: %w", err)
	}
	if n == 0 {
		return ErrBadTicket
	}
	return nil
}
