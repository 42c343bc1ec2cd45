package auth

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"

	"github.com/sseapi/sse-api/internal/redistest"
)

// notBefore is a user's revocation, or Redis not answering (err).
type notBefore struct {
	at  time.Time
	err error
}

func (n notBefore) NotBefore(context.Context, string) (time.Time, error) { return n.at, n.err }

func TestClaimsPresenceAndAdmin(t *testing.T) {
	tokens := NewTokens("secret-0123456789")
	tok, _ := tokens.Sign(map[string]any{"uid": "ops", "presence": []string{"news:*"}, "admin": true}, time.Now().Add(time.Hour))
	id, err := tokens.Identity(tok)
	if err != nil || !id.Admin || !id.CanSeePresence("news:1") || id.CanSeePresence("orders:1") || id.IssuedAt.IsZero() {
		t.Fatalf("%+v %v", id, err)
	}
	// Only true is admin, and presence must be a list.
	tok, _ = tokens.Sign(map[string]any{"uid": "u", "presence": "news:*", "admin": "true"}, time.Now().Add(time.Hour))
	if id, _ := tokens.Identity(tok); id.Admin || id.CanSeePresence("news:1") {
		t.Fatalf("%+v", id)
	}
}

// Every credential of a revoked user issued until its revocation is refused: tokens in a
// header or a cookie, tickets and resume cookies (which carry their token's iat).
func TestRevocationRefusesEveryCredentialIssuedBeforeIt(t *testing.T) {
	rdb := redistest.Client(t)
	tokens := NewTokens("secret-0123456789")
	a := &Authenticator{Tokens: tokens, Tickets: NewTickets(rdb, time.Minute)}
	ctx := context.Background()
	issued := time.Now().Add(-time.Hour).Truncate(time.Second)
	sign := func(iat time.Time) string {
		claims := jwt.MapClaims{"uid": "alice", "exp": time.Now().Add(time.Hour).Unix()}
		if !iat.IsZero() {
			claims["iat"] = iat.Unix()
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("secret-0123456789"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	old, noIat := sign(issued), sign(time.Time{})
	ticket, _, err := a.Tickets.Issue(ctx, TicketGrant{UID: "alice", Topics: []string{"a"}, CredentialIssued: issued})
	if err != nil {
		t.Fatal(err)
	}
	hash := TicketHash(ticket)
	cookie, err := tokens.ResumeCookie(ResumeGrant{UID: "alice", Topics: []string{"a"}, TicketHash: hash, CredentialIssued: issued},
		"/", time.Now().Add(time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]Credentials{
		"bearer":        {Authorization: "Bearer " + old},
		"access cookie": {Cookies: []*http.Cookie{{Name: AccessCookie, Value: old}}},
		"ticket":        {Ticket: ticket},
		"resume cookie": {Ticket: ticket, Cookies: []*http.Cookie{cookie}},
	}
	// Not revoked: all pass, a token without iat too.
	for name, c := range creds {
		if _, err := a.Subscriber(ctx, c); err != nil {
			t.Fatalf("%s before the revocation: %v", name, err)
		}
	}
	if _, err := a.Bearer(ctx, "Bearer "+noIat); err != nil {
		t.Fatal(err)
	}

	a.Revocations = notBefore{at: issued.Add(time.Minute)}
	for name, c := range creds {
		if _, err := a.Subscriber(ctx, c); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s: %v, want ErrRevoked", name, err)
		}
	}
	for _, tok := range []string{old, noIat, sign(issued.Add(time.Minute))} {
		if _, err := a.Bearer(ctx, "Bearer "+tok); !errors.Is(err, ErrRevoked) {
			t.Errorf("Bearer: %v, want ErrRevoked", err)
		}
	}
	// A token of a later second works; so do anonymous requests.
	if _, err := a.Bearer(ctx, "Bearer "+sign(issued.Add(time.Minute+time.Second))); err != nil {
		t.Fatal(err)
	}
	if g, err := a.Subscriber(ctx, Credentials{}); err != nil || g.Via != ViaAnonymous {
		t.Fatalf("%+v %v", g, err)
	}

	// Redis not answering: refused as unknown, not let through.
	a.Revocations = notBefore{err: errors.New("down")}
	for name, c := range creds {
		if _, err := a.Subscriber(ctx, c); !errors.Is(err, ErrRevocationUnknown) {
			t.Errorf("%s with Redis down: %v", name, err)
		}
	}
}
