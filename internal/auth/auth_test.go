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

func TestPatterns(t *testing.T) {
	p := Patterns{"news:*", "exact", "*-suffix-is-not-wild"}
	for topic, want := range map[string]bool{
		"news:1": true, "news:": true, "news": false, "exact": true, "exactly": false,
		"x-suffix-is-not-wild": false, "*-suffix-is-not-wild": true,
	} {
		if got := p.Match(topic); got != want {
			t.Errorf("Match(%q) = %v", topic, got)
		}
	}
	if !(Patterns{"*"}).Match("anything") || (Patterns{}).Match("x") {
		t.Fatal("* matches all, nothing matches nothing")
	}
}

func TestIdentityRights(t *testing.T) {
	id := Identity{UID: "u1", Publish: Patterns{"a:*"}, Subscribe: Patterns{"b:*"}}
	public := Patterns{"pub:*"}
	cases := []struct {
		name string
		got  bool
		want bool
	}{
		{"publish granted", id.CanPublish("a:1"), true},
		{"publish not granted", id.CanPublish("b:1"), false},
		{"subscribe granted", id.CanSubscribe("b:1", public), true},
		{"own user topic", id.CanSubscribe("user:u1", public), true},
		{"other user topic", id.CanSubscribe("user:u2", public), false},
		{"public", id.CanSubscribe("pub:x", public), true},
		{"anonymous public", Identity{}.CanSubscribe("pub:x", public), true},
		{"anonymous private", Identity{}.CanSubscribe("b:1", public), false},
		{"anonymous user topic", Identity{}.CanSubscribe("user:", public), false},
		{"anonymous publish", Identity{Publish: Patterns{"*"}}.CanPublish("a"), false},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: %v", c.name, c.got)
		}
	}
}

func TestTokensRefuseWhatIsNotAnHS256AccessToken(t *testing.T) {
	tokens := NewTokens("secret-0123456789")
	good, _ := tokens.Sign(map[string]any{"uid": "u", "subscribe": []string{"a:*"}}, time.Now().Add(time.Hour))
	id, err := tokens.Identity(good)
	if err != nil || id.UID != "u" || !id.Subscribe.Match("a:1") || id.Expires.IsZero() {
		t.Fatalf("Identity(good) = %+v, %v", id, err)
	}
	hour := time.Now().Add(time.Hour).Unix()
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bad := map[string]string{
		"expired":        sign(jwt.SigningMethodHS256, []byte("secret-0123456789"), jwt.MapClaims{"uid": "u", "exp": time.Now().Add(-time.Minute).Unix()}),
		"other secret":   sign(jwt.SigningMethodHS256, []byte("another-secret"), jwt.MapClaims{"uid": "u", "exp": hour}),
		"HS512":          sign(jwt.SigningMethodHS512, []byte("secret-0123456789"), jwt.MapClaims{"uid": "u", "exp": hour}),
		"HS384":          sign(jwt.SigningMethodHS384, []byte("secret-0123456789"), jwt.MapClaims{"uid": "u", "exp": hour}),
		"alg none":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"uid": "u", "exp": hour}),
		"no exp":         sign(jwt.SigningMethodHS256, []byte("secret-0123456789"), jwt.MapClaims{"uid": "u"}),
		"no uid":         sign(jwt.SigningMethodHS256, []byte("secret-0123456789"), jwt.MapClaims{"sub": "u", "exp": hour}),
		"numeric uid":    sign(jwt.SigningMethodHS256, []byte("secret-0123456789"), jwt.MapClaims{"uid": 7, "exp": hour}),
		"a resume token": sign(jwt.SigningMethodHS256, []byte("secret-0123456789"), jwt.MapClaims{"uid": "u", "typ": "resume", "exp": hour}),
		"garbage":        "not.a.jwt",
	}
	for name, tok := range bad {
		if _, err := tokens.Identity(tok); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestMaxTokenTTL(t *testing.T) {
	tokens := NewTokens("secret-0123456789").WithMaxTTL(time.Hour)
	short, _ := tokens.Sign(map[string]any{"uid": "u"}, time.Now().Add(time.Minute))
	long, _ := tokens.Sign(map[string]any{"uid": "u"}, time.Now().Add(2*time.Hour))
	if _, err := tokens.Identity(short); err != nil {
		t.Fatalf("a token within MaxTokenTTL: %v", err)
	}
	if _, err := tokens.Identity(long); !errors.Is(err, ErrBadToken) {
		t.Fatalf("a token valid for longer than MaxTokenTTL: %v", err)
	}
}

func TestResumeCookieIsBoundToItsTicketAndCredential(t *testing.T) {
	tokens := NewTokens("secret-0123456789")
	hash := TicketHash("ticket-one")
	credential := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	expires := time.Now().Add(time.Minute)
	g := ResumeGrant{UID: "u", Topics: []string{"a", "b"}, TicketHash: hash, CredentialExpires: credential}
	c, err := tokens.ResumeCookie(g, "/v1", expires, true)
	if err != nil {
		t.Fatal(err)
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/v1" || c.Name != ResumeCookieName(hash) {
		t.Fatalf("cookie %+v", c)
	}
	got, ok := tokens.Resume([]*http.Cookie{c}, hash)
	if !ok || got.UID != "u" || len(got.Topics) != 2 || !got.CredentialExpires.Equal(credential) {
		t.Fatalf("Resume = %+v %v", got, ok)
	}
	if _, ok := tokens.Resume([]*http.Cookie{c}, TicketHash("ticket-two")); ok {
		t.Fatal("a cookie of another ticket was accepted")
	}
	// A resume cookie is no access token.
	if _, err := tokens.Identity(c.Value); err == nil {
		t.Fatal("resume cookie accepted as an access token")
	}
	plain, _ := tokens.ResumeCookie(g, "/v1", expires, false)
	if plain.Secure {
		t.Fatal("Secure without secure cookies")
	}
}

func TestTicketsAreSpentOnce(t *testing.T) {
	tickets := NewTickets(redistest.Client(t), time.Minute)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tk, expires, err := tickets.Issue(ctx, TicketGrant{UID: "u", Topics: []string{"a"}, CredentialExpires: exp})
	if err != nil || time.Until(expires) <= 0 {
		t.Fatal(err)
	}
	for range 2 { // looking does not spend it
		g, err := tickets.Peek(ctx, tk)
		if err != nil || g.UID != "u" || len(g.Topics) != 1 || g.Topics[0] != "a" || !g.CredentialExpires.Equal(exp) {
			t.Fatalf("Peek = %+v %v", g, err)
		}
	}
	if err := tickets.Spend(ctx, TicketHash(tk)); err != nil {
		t.Fatal(err)
	}
	if err := tickets.Spend(ctx, TicketHash(tk)); !errors.Is(err, ErrBadTicket) {
		t.Fatalf("second spend: %v", err)
	}
	if _, err := tickets.Peek(ctx, tk); !errors.Is(err, ErrBadTicket) {
		t.Fatalf("peek after spending: %v", err)
	}
	// Only the hash is stored.
	if n, _ := redistest.Client(t).Exists(ctx, "sse:ticket:"+tk).Result(); n != 0 {
		t.Fatal("the ticket itself is a key")
	}
}

// A kept token gives the identity it was verified to, until its own exp, and a refused one
// is refused every time.
func TestVerifiedTokensAreKeptUntilTheyExpire(t *testing.T) {
	tokens := NewTokens("secret-0123456789").WithVerifiedCache(10)
	soon := time.Now().Add(1100 * time.Millisecond)
	tok, _ := tokens.Sign(map[string]any{"uid": "u", "subscribe": []string{"a:*"}}, soon)
	for range 3 {
		id, err := tokens.Identity(tok)
		if err != nil || id.UID != "u" || !id.Subscribe.Match("a:1") {
			t.Fatalf("Identity = %+v, %v", id, err)
		}
	}
	forged := tok[:len(tok)-2] + "AA"
	for range 2 {
		if _, err := tokens.Identity(forged); !errors.Is(err, ErrBadToken) {
			t.Fatalf("a token with another signature: %v", err)
		}
	}
	// exp has whole seconds: once it has passed, the kept identity is not given.
	expired := time.Unix(time.Now().Add(1100*time.Millisecond).Unix()+1, 0)
	for time.Now().Before(expired) {
		<-time.After(time.Until(expired))
	}
	if _, err := tokens.Identity(tok); !errors.Is(err, ErrBadToken) {
		t.Fatalf("an expired token still given from the cache: %v", err)
	}
}
