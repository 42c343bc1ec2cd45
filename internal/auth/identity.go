package auth

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// UserTopicPrefix starts the topic every authenticated user may read: "user:<uid>".
const UserTopicPrefix = "user:"

// UserTopic is the topic of user uid's own events.
func UserTopic(uid string) string { return UserTopicPrefix + uid }

// Identity is who a request acts for.
type Identity struct {
	UID       string
	Publish   Patterns
	Subscribe Patterns
	// Presence lists the topics whose present users (their uids) the identity may see.
	Presence Patterns
	// Admin may end other users' streams and revoke their tokens.
	Admin bool
	// Expires is when the credential stops being valid (zero: never, or unknown).
	Expires time.Time
	// IssuedAt is when the token behind the credential was issued (zero: it has no iat):
	// tickets and resume cookies carry their token's, so a revocation reaches them too.
	IssuedAt time.Time
}

// Authenticated reports whether the identity is a user, not an anonymous client.
func (id Identity) Authenticated() bool { return id.UID != "" }

// CanPublish reports whether id may publish to topic.
func (id Identity) CanPublish(topic string) bool {
	return id.Authenticated() && id.Publish.Match(topic)
}

// CanSeePresence reports whether id may see who is present on topic (the uids).
func (id Identity) CanSeePresence(topic string) bool {
	return id.Authenticated() && id.Presence.Match(topic)
}

// CanSubscribe reports whether id may read topic; public lists what anyone may read.
func (id Identity) CanSubscribe(topic string, public Patterns) bool {
	if public.Match(topic) {
		return true
	}
	if !id.Authenticated() {
		return false
	}
	return topic == UserTopic(id.UID) || id.Subscribe.Match(topic)
}

// Claim names.
const (
	ClaimUID       = "uid"
	ClaimPublish   = "publish"
	ClaimSubscribe = "subscribe"
	ClaimPresence  = "presence"
	ClaimAdmin     = "admin"
	claimType      = "typ"
)

type identityKey struct{}

// WithIdentity returns ctx carrying id, for the logic of the request ctx belongs to.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext reads the identity that the Authorize middleware put into ctx.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok && id.Authenticated()
}

// patternsOf reads a claim that should be a list of strings; anything else grants nothing.
func patternsOf(v any) Patterns {
	var out Patterns
	switch list := v.(type) {
	case []any:
		for _, item := range list {
			if s, ok := item.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	case []string:
		out = append(out, list...)
	case json.Number, string:
		// A single string is not a list; refuse rather than guess.
	}
	return slices.Clip(out) // identities are shared (Tokens keeps verified ones): no append may write into another's
}
