package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrRevoked is returned for a credential of a user whose tokens were revoked after it was
// issued (or which has no iat to tell).
var ErrRevoked = errors.New("credential revoked")

// ErrRevocationUnknown is returned when whether a credential was revoked cannot be read:
// such a credential is refused (503), not let through.
var ErrRevocationUnknown = errors.New("cannot check whether the credential was revoked")

// Revocations says since when a user's credentials are valid (internal/revoke).
type Revocations interface {
	// NotBefore is the instant before which uid's tokens were revoked; zero: none was.
	NotBefore(ctx context.Context, uid string) (time.Time, error)
}

// admit checks id against the revocations: a token issued before its user's not-before,
// or one without iat while a revocation stands, is refused.
func (a *Authenticator) admit(ctx context.Context, id Identity) error {
	if a.Revocations == nil || !id.Authenticated() {
		return nil
	}
	nb, err := a.Revocations.NotBefore(ctx, id.UID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRevocationUnknown, err)
	}
	// iat has whole seconds: a token of the revocation's own second may be from before it.
	if !nb.IsZero() && (id.IssuedAt.IsZero() || id.IssuedAt.Unix() <= nb.Unix()) {
		return ErrRevoked
	}
	return nil
}

// Bearer resolves the Authorization header of a plain route: a valid token of a user
// whose tokens were not revoked since it was issued.
func (a *Authenticator) Bearer(ctx context.Context, header string) (Identity, error) {
	token, ok := BearerToken(header)
	if !ok {
		return Identity{}, ErrNoCredentials
	}
	id, err := a.Tokens.Identity(token)
	if err != nil {
		return Identity{}, err
	}
	if err := a.admit(ctx, id); err != nil {
		return Identity{}, err
	}
	return id, nil
}
