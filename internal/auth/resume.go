package auth

import (
	"net/http"
	"time"
)

// A browser's EventSource reconnects by itself with the very URL it first used, ticket
// included, and the ticket is spent by then. So the response that a ticket opened sets a
// short-lived HttpOnly cookie, bound to that ticket and its topics, which lets the same
// browser (and only a holder of the cookie) reconnect and resume. Every stream opened with
// it renews it, and such streams end before it expires so that renewal always happens.

const (
	resumeCookiePrefix = "sse_resume_"
	resumeType         = "resume"
	claimTicket        = "tid"
	claimTopics        = "topics"
)

// ResumeCookieName is per ticket, so several streams in one browser do not overwrite each
// other's cookie.
func ResumeCookieName(ticketHash string) string {
	return resumeCookiePrefix + ticketHash[:16]
}

// ResumeCookie signs a resume grant for uid on topics, bound to the ticket with ticketHash.
func (t *Tokens) ResumeCookie(uid string, topics []string, ticketHash, path string, ttl time.Duration) (*http.Cookie, error) {
	expires := time.Now().Add(ttl)
	value, err := t.Sign(map[string]any{
		claimType:   resumeType,
		ClaimUID:    uid,
		claimTopics: topics,
		claimTicket: ticketHash,
	}, expires)
	if err != nil {
		return nil, err
	}
	return &http.Cookie{
		Name:     ResumeCookieName(ticketHash),
		Value:    value,
		Path:     path,
		Expires:  expires,
		MaxAge:   int(ttl.Seconds()),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}, nil
}

// Resume reads the resume cookie for the ticket with ticketHash out of cookies and returns
// the uid and topics it grants.
func (t *Tokens) Resume(cookies []*http.Cookie, ticketHash string) (uid string, topics []string, ok bool) {
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
		uid, _ = claims[ClaimUID].(string)
		topics = []string(patternsOf(claims[claimTopics]))
		return uid, topics, uid != ""
	}
	return "", nil, false
}
