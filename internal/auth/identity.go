package auth

import (
	"context"
	"encoding/json"
	"time"
)

// UserTopicPrefix starts the topic every authenticated user may read: "user:<uid>".
const UserTopicPrefix = "user:"

// Identity is who a request acts for.
type Identity struct {
	UID       string
	Publish   Patterns
	Subscribe Patterns
	// Expires is when the credential stops being valid (zero: never, or unknown).
	Expires time.Time
}

// Authenticated reports whether the identity is a user, not an anonymous client.
func (id Identity) Authenticated() bool { return id.UID != "" }

// CanPublish reports whether id may publish to topic.
func (id Identity) CanPublish(topic string) bool {
	return id.Authenticated() && id.Publish.Match(topic)
}

// CanSubscribe reports whether id may read topic; public lists what anyone may read.
func (id Identity) CanSubscribe(topic string, public Patterns) bool {
	if public.Match(topic) {
		return true
	}
	if !id.Authenticated() {
		return false
	}
	return topic == UserTopicPrefix+id.UID || id.Subscribe.Match(topic)
}

// Claim names.
const (
	ClaimUID       = "uid"
	ClaimPublish   = "publish"
	ClaimSubscribe = "subscribe"
	claimType      = "typ"
)

// FromContext reads the identity that go-zero's JWT middleware put into ctx: it stores
// every non-standard claim under its own name.
func FromContext(ctx context.Context) (Identity, bool) {
	uid, _ := ctx.Value(ClaimUID).(string)
	if uid == "" {
		return Identity{}, false
	}
	if typ, _ := ctx.Value(claimType).(string); typ != "" {
		return Identity{}, false // a resume token is not an access token
	}
	return Identity{
		UID:       uid,
		Publish:   patternsOf(ctx.Value(ClaimPublish)),
		Subscribe: patternsOf(ctx.Value(ClaimSubscribe)),
	}, true
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
	return out
}
