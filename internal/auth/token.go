package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// ErrBadToken covers every reason a token is refused; the reason is not told to clients.
var ErrBadToken = errors.New("invalid or expired token")

// Tokens signs and verifies HS256 tokens with the service's Auth.AccessSecret, the secret
// go-zero's JWT middleware checks Bearer tokens with.
type Tokens struct {
	secret []byte
}

// NewTokens returns a signer/verifier for secret.
func NewTokens(secret string) *Tokens { return &Tokens{secret: []byte(secret)} }

func (t *Tokens) parse(token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	if err != nil {
		return nil, ErrBadToken
	}
	return claims, nil
}

// Identity verifies an access token (from a Bearer header or the access_token cookie).
func (t *Tokens) Identity(token string) (Identity, error) {
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
	return Identity{
		UID:       uid,
		Publish:   patternsOf(claims[ClaimPublish]),
		Subscribe: patternsOf(claims[ClaimSubscribe]),
		Expires:   expiry(claims),
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

func expiry(claims jwt.MapClaims) time.Time {
	if exp, ok := claims["exp"].(float64); ok {
		return time.Unix(int64(exp), 0)
	}
	return time.Time{}
}
