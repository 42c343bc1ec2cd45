package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// AccessCookie is the HttpOnly cookie a browser may carry its access token in.
const AccessCookie = "access_token"

// Credentials are what a subscribe request may prove itself with, strongest first.
type Credentials struct {
	Authorization string         // "Bearer <jwt>"
	Cookies       []*http.Cookie // access_token, resume cookies
	Ticket        string         // ?ticket=
}

// Via says which credential admitted a subscriber.
type Via string

const (
	ViaAnonymous Via = "anonymous"
	ViaBearer    Via = "bearer"
	ViaCookie    Via = "cookie"
	ViaTicket    Via = "ticket"
	ViaResume    Via = "resume"
)

// Grant is what a subscribe request was found to be allowed.
type Grant struct {
	Identity
	Via Via
	// Topics, for tickets and resume cookies, are the only topics the stream may carry.
	Topics []string
	// TicketHash binds the resume cookie to the ticket (ticket and resume grants only).
	TicketHash string
}

// Allows reports whether the grant covers topic; public lists what anyone may read.
func (g Grant) Allows(topic string, public Patterns) bool {
	if g.Via == ViaTicket || g.Via == ViaResume {
		for _, t := range g.Topics {
			if t == topic {
				return true
			}
		}
		return false
	}
	return g.CanSubscribe(topic, public)
}

// ErrNoCredentials is returned when a credential was expected but none was usable.
var ErrNoCredentials = errors.New("missing or invalid credentials")

// Authenticator resolves credentials: the one check of tokens, tickets and resume cookies
// for every route.
type Authenticator struct {
	Tokens  *Tokens
	Tickets *Tickets
	// Revocations, when set, refuses the credentials of users revoked since they were
	// issued.
	Revocations Revocations
}

// CredentialsOf reads the credentials of a stream request.
func CredentialsOf(r *http.Request) Credentials {
	return Credentials{
		Authorization: r.Header.Get("Authorization"),
		Cookies:       r.Cookies(),
		Ticket:        r.FormValue("ticket"), // the query, parsed once per request
	}
}

// Subscriber resolves c. Presenting a bad credential is an error even where anonymous
// access would have been enough, so a client learns its token is wrong. A ticket is only
// looked at (Tickets.Peek); whoever opens the stream spends it.
func (a *Authenticator) Subscriber(ctx context.Context, c Credentials) (Grant, error) {
	g, err := a.subscriber(ctx, c)
	if err != nil {
		return Grant{}, err
	}
	if err := a.admit(ctx, g.Identity); err != nil {
		return Grant{}, err
	}
	return g, nil
}

func (a *Authenticator) subscriber(ctx context.Context, c Credentials) (Grant, error) {
	if c.Authorization != "" {
		token, ok := BearerToken(c.Authorization)
		if !ok {
			return Grant{}, ErrNoCredentials
		}
		id, err := a.Tokens.Identity(token)
		if err != nil {
			return Grant{}, err
		}
		return Grant{Identity: id, Via: ViaBearer}, nil
	}
	if c.Ticket != "" {
		hash := TicketHash(c.Ticket)
		// The browser reconnecting with the URL of a spent ticket comes back with the
		// ticket's resume cookie.
		if r, ok := a.Tokens.Resume(c.Cookies, hash); ok {
			return Grant{
				Identity: Identity{UID: r.UID, Expires: r.CredentialExpires, IssuedAt: r.CredentialIssued},
				Via:      ViaResume, Topics: r.Topics, TicketHash: hash,
			}, nil
		}
		t, err := a.Tickets.Peek(ctx, c.Ticket)
		if err != nil {
			return Grant{}, err
		}
		return Grant{
			Identity: Identity{UID: t.UID, Expires: t.CredentialExpires, IssuedAt: t.CredentialIssued},
			Via:      ViaTicket, Topics: t.Topics, TicketHash: hash,
		}, nil
	}
	for _, ck := range c.Cookies {
		if ck.Name == AccessCookie {
			id, err := a.Tokens.Identity(ck.Value)
			if err != nil {
				return Grant{}, err
			}
			return Grant{Identity: id, Via: ViaCookie}, nil
		}
	}
	return Grant{Via: ViaAnonymous}, nil
}

// BearerToken reads the token of an Authorization header: "Bearer <token>", the scheme in
// any case (RFC 7235).
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// HasToken reports whether c carries a token (header or cookie), as opposed to a ticket or
// nothing: the requests without one are the ones rate limited per address.
func (c Credentials) HasToken() bool {
	if c.Authorization != "" {
		return true
	}
	for _, ck := range c.Cookies {
		if ck.Name == AccessCookie {
			return true
		}
	}
	return false
}
