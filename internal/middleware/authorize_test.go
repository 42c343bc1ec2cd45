package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"

	"github.com/sseapi/sse-api/internal/auth"
)

func TestAuthorize(t *testing.T) {
	const secret = "authorize-test-secret-0123"
	tokens := auth.NewTokens(secret)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	good, err := tokens.Sign(map[string]any{
		auth.ClaimUID: "alice", auth.ClaimPublish: []string{"news:*"}, auth.ClaimSubscribe: []string{"news:*", "orders:1"},
	}, exp)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	var seen *auth.Identity
	revoked := revocations{"mallory": time.Now().Add(time.Minute), "broken": {}}
	h := NewAuthorizeMiddleware(&auth.Authenticator{Tokens: tokens, Revocations: revoked}).Handle(func(w http.ResponseWriter, r *http.Request) {
		id, ok := auth.FromContext(r.Context())
		if ok {
			seen = &id
		}
		w.WriteHeader(http.StatusNoContent)
	})
	serve := func(authorization string) *httptest.ResponseRecorder {
		seen = nil
		r := httptest.NewRequest(http.MethodPost, "/v1/topics/news:1/events", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		h(w, r)
		return w
	}

	refused := map[string]string{
		"no header":    "",
		"not Bearer":   "Basic YWxpY2U6cHc=",
		"Bearer alone": "Bearer",
		"Bearer blank": "Bearer ",
		"token alone":  good,
		"bad token":    "Bearer not.a.jwt",
		"HS512":        "Bearer " + sign(jwt.SigningMethodHS512, jwt.MapClaims{"uid": "alice", "exp": exp.Unix()}),
		"without exp":  "Bearer " + sign(jwt.SigningMethodHS256, jwt.MapClaims{"uid": "alice"}),
		"expired":      "Bearer " + sign(jwt.SigningMethodHS256, jwt.MapClaims{"uid": "alice", "exp": time.Now().Add(-time.Minute).Unix()}),
		"without uid":  "Bearer " + sign(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": exp.Unix()}),
		"other secret": "Bearer " + func() string {
			s, _ := auth.NewTokens("another-secret-0123").Sign(map[string]any{"uid": "alice"}, exp)
			return s
		}(),
		"resume cookie":   "Bearer " + sign(jwt.SigningMethodHS256, jwt.MapClaims{"uid": "alice", "typ": "resume", "exp": exp.Unix()}),
		"revoked":         "Bearer " + sign(jwt.SigningMethodHS256, jwt.MapClaims{"uid": "mallory", "iat": time.Now().Unix(), "exp": exp.Unix()}),
		"revoked, no iat": "Bearer " + sign(jwt.SigningMethodHS256, jwt.MapClaims{"uid": "mallory", "exp": exp.Unix()}),
	}
	for name, authorization := range refused {
		t.Run(name, func(t *testing.T) {
			w := serve(authorization)
			wantJSONError(t, w.Code, w.Header(), w.Body.Bytes(), http.StatusUnauthorized, "unauthorized")
			if seen != nil {
				t.Fatal("the handler ran")
			}
		})
	}

	for _, authorization := range []string{"Bearer " + good, "Bearer   " + good + " "} {
		w := serve(authorization)
		if w.Code != http.StatusNoContent || seen == nil {
			t.Fatalf("%q: %d %s", authorization, w.Code, w.Body)
		}
		want := auth.Identity{UID: "alice", Publish: auth.Patterns{"news:*"}, Subscribe: auth.Patterns{"news:*", "orders:1"}, Expires: exp}
		if seen.IssuedAt.IsZero() {
			t.Fatal("no IssuedAt")
		}
		seen.IssuedAt = time.Time{}
		if !reflect.DeepEqual(*seen, want) {
			t.Fatalf("identity %+v, want %+v", *seen, want)
		}
	}

	// Whether a token was revoked cannot be read: refused, 503, not let through.
	broken, _ := tokens.Sign(map[string]any{auth.ClaimUID: "broken"}, exp)
	w := serve("Bearer " + broken)
	wantJSONError(t, w.Code, w.Header(), w.Body.Bytes(), http.StatusServiceUnavailable, "unavailable")
	if seen != nil {
		t.Fatal("the handler ran")
	}
}

// revocations are not-befores by uid; a zero one stands for Redis not answering.
type revocations map[string]time.Time

func (r revocations) NotBefore(_ context.Context, uid string) (time.Time, error) {
	nb, ok := r[uid]
	if ok && nb.IsZero() {
		return time.Time{}, errors.New("redis down")
	}
	return nb, nil
}
