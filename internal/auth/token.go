package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/zeromicro/go-zero/core/collection"
)

// ErrBadToken covers every reason a token is refused; the reason is not told to clients.
var ErrBadToken = errors.New("invalid or expired token")

// Tokens signs and verifies the service's tokens: HS256 with Auth.AccessSecret, and an
// expiry, always. It is the one token check of every route.
type Tokens struct {
	secret []byte
	maxTTL time.Duration
	// verified holds the identities of access tokens already verified (nil: none are
	// kept). A publisher, and a client that reconnects, present the same token again and
	// again, and verifying one costs microseconds and dozens of allocations.
	verified *collection.Cache
}

// verifiedFor bounds how long a verified token is kept, below its own expiry.
const verifiedFor = time.Minute

// NewTokens returns a signer/verifier for secret.
func NewTokens(secret string) *Tokens { return &Tokens{secret: []byte(secret)} }

// WithMaxTTL makes t refuse tokens valid for longer than d (from their iat, or from now when
// they have none); 0 sets no bound.
func (t *Tokens) WithMaxTTL(d time.Duration) *Tokens {
	t.maxTTL = d
	return t
}

// WithVerifiedCache makes t keep up to n verified access tokens, each until it expires or
// for a minute at most, so presenting one again skips the signature check and decoding; 0
// keeps none. Revocation is checked apart from this (see Authenticator), on every use.
func (t *Tokens) WithVerifiedCache(n int) *Tokens {
	if n <= 0 {
		t.verified = nil
		return t
	}
	c, err := collection.NewCache(verifiedFor, collection.WithLimit(n), collection.WithName("verified-tokens"))
	if err != nil {
		panic(err) // only for a bad timing wheel setting, fixed in go-zero's code
	}
	t.verified = c
	return t
}

// parse verifies token: signature by HS256 alone (no "none", no other algorithm), and an
// exp claim that has not passed.
func (t *Tokens) parse(token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	if err != nil {
		return nil, ErrBadToken
	}
	exp := expiry(claims)
	if exp.IsZero() {
		return nil, ErrBadToken // a token without exp would never end
	}
	if t.maxTTL > 0 {
		from := time.Now()
		if iat, ok := claims["iat"].(float64); ok {
			from = time.Unix(int64(iat), 0)
		}
		if exp.Sub(from) > t.maxTTL {
			return nil, ErrBadToken
		}
	}
	return claims, nil
}

// Identity verifies an access token (from a Bearer header or the access_token cookie).
func (t *Tokens) Identity(token string) (Identity, error) {
	if t.verified == nil {
		return t.identity(token)
	}
	if v, ok := t.verified.Get(token); ok {
		if id := v.(Identity); time.Now().Before(id.Expires) {
			return id, nil
		}
	}
	id, err := t.identity(token)
	if err != nil {
		return id, err // refusals are not kept: a bad token costs its sender the check
	}
	t.verified.SetWithExpire(token, id, min(verifiedFor, time.Until(id.Expires)))
	return id, nil
}

func (t *Tokens) identity(token string) (Identity, error) {
	claims, err := t.parse(token)
	if err != nil {
		return Identity{}, err
	}
	if typ, _ := claims[claimType].(string); typ != "" {
		return Identity{}, ErrBadToken
	}
	uid, _ := claims[ClaimUID].(string)
	if uid == "" {
		return Identity{}, ErrBadToken
	}
	admin, _ := claims[ClaimAdmin].(bool)
	return Identity{
		UID:       uid,
		Publish:   patternsOf(claims[ClaimPublish]),
		Subscribe: patternsOf(claims[ClaimSubscribe]),
		Presence:  patternsOf(claims[ClaimPresence]),
		Admin:     admin,
		Expires:   expiry(claims),
		IssuedAt:  issuedAt(claims),
	}, nil
}

// Sign makes an HS256 token with claims and an expiry.
func (t *Tokens) Sign(claims map[string]any, expires time.Time) (string, error) {
	mc := jwt.MapClaims{"iat": time.Now().Unix(), "exp": expires.Unix()}
	for k, v := range claims {
		mc[k] = v
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, mc).SignedString(t.secret)
}

// issuedAt reads iat; zero when there is none.
func issuedAt(claims jwt.MapClaims) time.Time {
	if iat, ok := claims["iat"].(float64); ok {
		return time.Unix(int64(iat), 0)
	}
	return time.Time{}
}

func expiry(claims jwt.MapClaims) time.Time {
	if exp, ok := claims["exp"].(float64); ok {
		return time.Unix(int64(exp), 0)
	}
	return time.Time{}
}
