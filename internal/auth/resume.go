package auth

import (
	"net/http"
	"time"
)

// A browser's EventSource reconnects by itself with the very URL it first used, ticket
// included, and the ticket is spent by then. So the response that a ticket opened sets a
// short-lived HttpOnly cookie, bound to that ticket and its topics, which lets the same
// browser (and only a holder of the cookie) reconnect and resume. Every stream opened with
// it renews it, and such streams end before it expires so that renewal always happens. It
// never outlives the credential the ticket was issued for: that expiry travels with it.

const (
	resumeCookiePrefix = "sse_resume_"
	resumeType         = "resume"
	claimTicket        = "tid"
	claimTopics        = "topics"
	claimCredentialExp = "cexp"
	claimCredentialIat = "ciat"
)

// ResumeGrant is what a resume cookie lets its holder do again.
type ResumeGrant struct {
	UID        string
	Topics     []string
	TicketHash string
	// CredentialExpires is when the credential behind the ticket expires (zero: unknown).
	CredentialExpires time.Time
	// CredentialIssued is when the token behind the ticket was issued (zero: no iat); a
	// revocation of the user refuses the cookie as it refuses that token.
	CredentialIssued time.Time
}

// ResumeCookieName is per ticket, so several streams in one browser do not overwrite each
// other's cookie.
func ResumeCookieName(ticketHash string) string {
	return resumeCookiePrefix + ticketHash[:16]
}

// ResumeCookie signs g into a cookie that expires at expires, scoped to path.
func (t *Tokens) ResumeCookie(g ResumeGrant, path string, expires time.Time, secure bool) (*http.Cookie, error) {
	claims := map[string]any{
		claimType:   resumeType,
		ClaimUID:    g.UID,
		claimTopics: g.Topics,
		claimTicket: g.TicketHash,
	}
	if !g.CredentialExpires.IsZero() {
		claims[claimCredentialExp] = g.CredentialExpires.Unix()
	}
	if !g.CredentialIssued.IsZero() {
		claims[claimCredentialIat] = g.CredentialIssued.Unix()
	}
	value, err := t.Sign(claims, expires)
	if err != nil {
		return nil, err
	}
	return &http.Cookie{
		Name:     ResumeCookieName(g.TicketHash),
		Value:    value,
		Path:     path,
		Expires:  expires,
		MaxAge:   max(1, int(time.Until(expires).Seconds())),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	}, nil
}

// Resume reads the resume cookie for the ticket with ticketHash out of cookies.
func (t *Tokens) Resume(cookies []*http.Cookie, ticketHash string) (ResumeGrant, bool) {
	name := ResumeCookieName(ticketHash)
	for _, c := range cookies {
		if c.Name != name {
			continue
		}
		claims, err := t.parse(c.Value)
		if err != nil {
			continue
		}
		if typ, _ := claims[claimType].(string); typ != resumeType {
			continue
		}
		if tid, _ := claims[claimTicket].(string); tid != ticketHash {
			continue
		}
		g := ResumeGrant{TicketHash: ticketHash}
		g.UID, _ = claims[ClaimUID].(string)
		g.Topics = []string(patternsOf(claims[claimTopics]))
		if exp, ok := claims[claimCredentialExp].(float64); ok {
			g.CredentialExpires = time.Unix(int64(exp), 0)
		}
		if iat, ok := claims[claimCredentialIat].(float64); ok {
			g.CredentialIssued = time.Unix(int64(iat), 0)
		}
		return g, g.UID != ""
	}
	return ResumeGrant{}, false
}
