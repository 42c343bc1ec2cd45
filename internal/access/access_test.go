package access_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"

	"github.com/sseapi/sse-api/internal/access"
	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/stream"
)

const (
	secret     = "access-test-secret-0123456789"
	clientAddr = "198.51.100.7"
	cookiePath = "/v1/events"
)

// limiter is a fake Limiter: it records the keys it is asked about and grants budget
// requests per key (negative: unlimited), or fails with err.
type limiter struct {
	mu     sync.Mutex
	budget int
	err    error
	keys   []string
	used   map[string]int
}

func (l *limiter) take(_ context.Context, key string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	if l.err != nil {
		return false, l.err
	}
	if l.used == nil {
		l.used = map[string]int{}
	}
	l.used[key]++
	return l.budget < 0 || l.used[key] <= l.budget, nil
}

func (l *limiter) asked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.keys...)
}

type fixture struct {
	*access.Access
	tokens  *auth.Tokens
	tickets *auth.Tickets
	limit   *limiter
	conf    access.Config
}

func newFixture(t *testing.T, edit func(*access.Config)) *fixture {
	t.Helper()
	c := access.Config{
		Public:           auth.Patterns{"public:*"},
		MaxTopics:        3,
		ResumeTTL:        10 * time.Minute,
		ResumeCookiePath: cookiePath,
	}
	if edit != nil {
		edit(&c)
	}
	f := &fixture{
		tokens:  auth.NewTokens(secret),
		tickets: auth.NewTickets(redistest.Client(t), time.Minute),
		limit:   &limiter{budget: -1},
		conf:    c,
	}
	f.Access = access.New(&auth.Authenticator{Tokens: f.tokens, Tickets: f.tickets}, f.limit.take, c)
	return f
}

func (f *fixture) token(t *testing.T, uid string, subscribe []string, expires time.Time) string {
	t.Helper()
	tok, err := f.tokens.Sign(map[string]any{auth.ClaimUID: uid, auth.ClaimSubscribe: subscribe}, expires)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) ticket(t *testing.T, uid string, topics []string, credentialExpires time.Time) string {
	t.Helper()
	tk, _, err := f.tickets.Issue(context.Background(), auth.TicketGrant{UID: uid, Topics: topics, CredentialExpires: credentialExpires})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// request is a GET of target from remote, with what the ClientIP middleware stores in its
// context, as the logic gets it.
func request(t *testing.T, target, remote string, edit func(*http.Request)) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = remote
	if edit != nil {
		edit(r)
	}
	ips, err := middleware.NewClientIP(nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen *http.Request
	ips.Handle(func(_ http.ResponseWriter, r *http.Request) { seen = r })(httptest.NewRecorder(), r)
	return seen
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func withCookies(cs ...*http.Cookie) func(*http.Request) {
	return func(r *http.Request) {
		for _, c := range cs {
			r.AddCookie(c)
		}
	}
}

// wantError checks that err answers status with code, as the service's error handler
// writes it.
func wantError(t *testing.T, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d %s", status, code)
	}
	got, body := apierr.Handle(context.Background(), err)
	raw, _ := json.Marshal(body)
	var b struct{ Code, Message string }
	_ = json.Unmarshal(raw, &b)
	if got != status || b.Code != code {
		t.Fatalf("answer %d %s, want %d %s (%v)", got, raw, status, code, err)
	}
}

func (f *fixture) grant(t *testing.T, r *http.Request) auth.Grant {
	t.Helper()
	g, err := f.Grant(r.Context(), r)
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	return g
}

func (f *fixture) plan(t *testing.T, r *http.Request, g auth.Grant, topics ...string) stream.Plan {
	t.Helper()
	p, err := f.Plan(r.Context(), g, topics)
	if err != nil {
		t.Fatalf("Plan(%v): %v", topics, err)
	}
	return p
}

func TestBearerToken(t *testing.T) {
	f := newFixture(t, nil)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	r := request(t, "/v1/events", clientAddr+":1", bearer(f.token(t, "alice", []string{"news:*"}, exp)))
	g := f.grant(t, r)
	if g.Via != auth.ViaBearer || g.UID != "alice" || !g.Expires.Equal(exp) {
		t.Fatalf("grant %+v", g)
	}
	p := f.plan(t, r, g, "news:1", "user:alice", "public:x")
	want := stream.Plan{Topics: []string{"news:1", "user:alice", "public:x"}, UID: "alice", Holder: "alice", Until: exp}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("plan %+v, want %+v", p, want)
	}
	if keys := f.limit.asked(); len(keys) != 0 {
		t.Fatalf("a request with a token was rate limited as anonymous: %v", keys)
	}
}

func TestAccessTokenCookie(t *testing.T) {
	f := newFixture(t, nil)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := f.token(t, "bob", []string{"news:*"}, exp)
	r := request(t, "/v1/events", clientAddr+":1", withCookies(&http.Cookie{Name: auth.AccessCookie, Value: tok}))
	g := f.grant(t, r)
	if g.Via != auth.ViaCookie || g.UID != "bob" || !g.Expires.Equal(exp) {
		t.Fatalf("grant %+v", g)
	}
	p := f.plan(t, r, g, "news:2")
	if p.Holder != "bob" || !p.Until.Equal(exp) || p.Commit != nil || p.Cookies != nil {
		t.Fatalf("plan %+v", p)
	}
	if keys := f.limit.asked(); len(keys) != 0 {
		t.Fatalf("a request with a token was rate limited as anonymous: %v", keys)
	}
}

func TestBadCredentialsAre401(t *testing.T) {
	f := newFixture(t, nil)
	hour := time.Now().Add(time.Hour)
	expired := f.token(t, "alice", []string{"*"}, time.Now().Add(-time.Minute))
	other, _ := auth.NewTokens("another-secret-0123").Sign(map[string]any{"uid": "alice"}, hour)
	cases := map[string]func(*http.Request){
		"not Bearer":          func(r *http.Request) { r.Header.Set("Authorization", "Basic YWxpY2U6cHc=") },
		"garbage Bearer":      bearer("not.a.jwt"),
		"expired Bearer":      bearer(expired),
		"other secret Bearer": bearer(other),
		"bad access cookie":   withCookies(&http.Cookie{Name: auth.AccessCookie, Value: "not.a.jwt"}),
		"expired cookie":      withCookies(&http.Cookie{Name: auth.AccessCookie, Value: expired}),
		"unknown ticket": func(r *http.Request) {
			r.URL.RawQuery = "ticket=" + redistest.Name("no-such-ticket-")
		},
		// Where anonymous access would do, a bad credential is still refused, so that the
		// client learns its token is wrong.
		"bad Bearer on a public topic": bearer("not.a.jwt"),
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			r := request(t, "/v1/events?topic=public:x", clientAddr+":1", edit)
			_, err := f.Grant(r.Context(), r)
			wantError(t, err, http.StatusUnauthorized, "unauthorized")
		})
	}
}

func TestAnonymousRequestsAreRateLimitedPerAddress(t *testing.T) {
	f := newFixture(t, nil)
	f.limit.budget = 1
	anon := func(remote string) error {
		r := request(t, "/v1/events?topic=public:x", remote, nil)
		_, err := f.Grant(r.Context(), r)
		return err
	}
	if err := anon("198.51.100.1:1000"); err != nil {
		t.Fatalf("first anonymous request: %v", err)
	}
	wantError(t, anon("198.51.100.1:2000"), http.StatusTooManyRequests, "rate_limited") // another port, same address
	if err := anon("198.51.100.2:1000"); err != nil {
		t.Fatalf("another address has its own budget: %v", err)
	}
	if err := anon("[2001:db8::9]:1000"); err != nil {
		t.Fatalf("IPv6 address: %v", err)
	}
	want := []string{"198.51.100.1", "198.51.100.1", "198.51.100.2", "2001:db8::9"}
	if got := f.limit.asked(); !reflect.DeepEqual(got, want) {
		t.Fatalf("limiter asked about %v, want %v", got, want)
	}

	// Ticket redemptions carry no token: they count too, before the ticket is looked up.
	tk := f.ticket(t, "alice", []string{"news:1"}, time.Time{})
	r := request(t, "/v1/events?ticket="+tk, "198.51.100.1:3000", nil)
	_, err := f.Grant(r.Context(), r)
	wantError(t, err, http.StatusTooManyRequests, "rate_limited")

	// Requests with a token never do, whatever the address's budget.
	tok := f.token(t, "alice", []string{"news:*"}, time.Now().Add(time.Hour))
	for _, edit := range []func(*http.Request){bearer(tok), withCookies(&http.Cookie{Name: auth.AccessCookie, Value: tok})} {
		r := request(t, "/v1/events", "198.51.100.1:4000", edit)
		if _, err := f.Grant(r.Context(), r); err != nil {
			t.Fatalf("token request: %v", err)
		}
	}
	if got := len(f.limit.asked()); got != len(want)+1 {
		t.Fatalf("limiter asked %d times, want %d", got, len(want)+1)
	}

	// A limiter that fails is an internal error, not a free pass.
	f.limit.err = errors.New("redis down")
	wantError(t, anon("198.51.100.3:1"), http.StatusInternalServerError, "internal")
}

func TestTicketIsPeekedByGrantAndSpentByCommit(t *testing.T) {
	f := newFixture(t, nil)
	tk := f.ticket(t, "alice", []string{"news:1", "news:2"}, time.Now().Add(time.Hour))
	open := func() (*http.Request, auth.Grant) {
		r := request(t, "/v1/events?ticket="+tk, clientAddr+":1", nil)
		return r, f.grant(t, r)
	}

	// Looking at it does not use it up.
	r1, g1 := open()
	r2, g2 := open()
	if g1.Via != auth.ViaTicket || g1.UID != "alice" || !reflect.DeepEqual(g1.Topics, []string{"news:1", "news:2"}) ||
		g1.TicketHash != auth.TicketHash(tk) {
		t.Fatalf("grant %+v", g1)
	}
	p1 := f.plan(t, r1, g1, "news:1")
	p2 := f.plan(t, r2, g2, "news:1", "news:2")
	if p1.Commit == nil || p2.Commit == nil || p1.Holder != "alice" {
		t.Fatalf("plan %+v", p1)
	}
	if _, err := f.tickets.Peek(context.Background(), tk); err != nil {
		t.Fatalf("the ticket was spent before Commit: %v", err)
	}

	// Of two streams that got this far, one opens, the other gets 401.
	if err := p1.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	wantError(t, p2.Commit(context.Background()), http.StatusUnauthorized, "unauthorized")
	wantError(t, p1.Commit(context.Background()), http.StatusUnauthorized, "unauthorized")

	// And it is gone for good.
	r := request(t, "/v1/events?ticket="+tk, clientAddr+":1", nil)
	_, err := f.Grant(r.Context(), r)
	wantError(t, err, http.StatusUnauthorized, "unauthorized")
}

func TestRefusedTicketRequestLeavesTheTicketUsable(t *testing.T) {
	f := newFixture(t, nil)
	tk := f.ticket(t, "alice", []string{"news:1"}, time.Now().Add(time.Hour))
	refusals := []struct {
		topics []string
		status int
		code   string
	}{
		{[]string{"news:2"}, http.StatusForbidden, "forbidden"},                   // outside the ticket
		{[]string{"news:1", "news:2"}, http.StatusForbidden, "forbidden"},         // partly outside
		{[]string{"public:x"}, http.StatusForbidden, "forbidden"},                 // a ticket grants its topics only
		{[]string{"bad topic"}, http.StatusBadRequest, "bad_request"},             // malformed
		{[]string{"qr:abc"}, http.StatusForbidden, "forbidden"},                   // reserved
		{nil, http.StatusBadRequest, "bad_request"},                               // none
		{[]string{"a", "b", "c", "news:1"}, http.StatusBadRequest, "bad_request"}, // too many
	}
	for _, c := range refusals {
		r := request(t, "/v1/events?ticket="+tk, clientAddr+":1", nil)
		_, err := f.Plan(r.Context(), f.grant(t, r), c.topics)
		wantError(t, err, c.status, c.code)
	}
	r := request(t, "/v1/events?ticket="+tk, clientAddr+":1", nil)
	p := f.plan(t, r, f.grant(t, r), "news:1")
	if err := p.Commit(context.Background()); err != nil {
		t.Fatalf("the ticket was used up by refused requests: %v", err)
	}
}

// cookieExpiry reads the expiry signed into a resume cookie.
func cookieExpiry(t *testing.T, c *http.Cookie) time.Time {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(c.Value, claims); err != nil {
		t.Fatal(err)
	}
	exp, ok := claims["exp"].(float64)
	if !ok {
		t.Fatalf("resume cookie without exp: %v", claims)
	}
	return time.Unix(int64(exp), 0)
}

func onlyCookie(t *testing.T, p stream.Plan) *http.Cookie {
	t.Helper()
	if len(p.Cookies) != 1 {
		t.Fatalf("plan sets %d cookies, want 1", len(p.Cookies))
	}
	return p.Cookies[0]
}

func TestResumeCookieGrantsOnlyTheTicketsTopics(t *testing.T) {
	f := newFixture(t, nil)
	tk := f.ticket(t, "alice", []string{"news:1", "news:2"}, time.Now().Add(time.Hour))
	r := request(t, "/v1/events?ticket="+tk, clientAddr+":1", nil)
	p := f.plan(t, r, f.grant(t, r), "news:1")
	c := onlyCookie(t, p)
	if c.Name != auth.ResumeCookieName(auth.TicketHash(tk)) || c.Path != cookiePath || !c.HttpOnly ||
		c.SameSite != http.SameSiteStrictMode || c.Secure {
		t.Fatalf("cookie %+v", c)
	}
	if err := p.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The browser reconnects with the same URL, the ticket spent, and the cookie.
	resume := func() (*http.Request, auth.Grant) {
		r := request(t, "/v1/events?ticket="+tk, clientAddr+":1", withCookies(c))
		return r, f.grant(t, r)
	}
	r, g := resume()
	if g.Via != auth.ViaResume || g.UID != "alice" || !reflect.DeepEqual(g.Topics, []string{"news:1", "news:2"}) {
		t.Fatalf("grant %+v", g)
	}
	p = f.plan(t, r, g, "news:2", "news:1")
	if p.Commit != nil {
		t.Fatal("a resumed stream has nothing to spend")
	}
	if p.Holder != "alice" || onlyCookie(t, p).Name != c.Name {
		t.Fatalf("plan %+v", p)
	}
	for _, topics := range [][]string{{"news:3"}, {"news:1", "news:3"}, {"public:x"}, {"user:alice"}} {
		r, g := resume()
		_, err := f.Plan(r.Context(), g, topics)
		wantError(t, err, http.StatusForbidden, "forbidden")
	}

	// The cookie resumes its own ticket only.
	other := f.ticket(t, "alice", []string{"news:3"}, time.Now().Add(time.Hour))
	r = request(t, "/v1/events?ticket="+other, clientAddr+":1", withCookies(c))
	if g := f.grant(t, r); g.Via != auth.ViaTicket || !reflect.DeepEqual(g.Topics, []string{"news:3"}) {
		t.Fatalf("another ticket with this cookie: %+v", g)
	}
	forged := *c
	forged.Value = c.Value[:len(c.Value)-2] + "xx"
	r = request(t, "/v1/events?ticket="+tk, clientAddr+":1", withCookies(&forged))
	_, err := f.Grant(r.Context(), r)
	wantError(t, err, http.StatusUnauthorized, "unauthorized")
}

func TestResumeCookieIsSecureIffSecureCookies(t *testing.T) {
	for _, secure := range []bool{false, true} {
		f := newFixture(t, func(c *access.Config) { c.SecureCookies = secure })
		tk := f.ticket(t, "alice", []string{"news:1"}, time.Now().Add(time.Hour))
		r := request(t, "/v1/events?ticket="+tk, clientAddr+":1", nil)
		p := f.plan(t, r, f.grant(t, r), "news:1")
		if c := onlyCookie(t, p); c.Secure != secure {
			t.Fatalf("SecureCookies %v: cookie Secure %v", secure, c.Secure)
		}
		if err := p.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The renewed cookie too.
		r = request(t, "/v1/events?ticket="+tk, clientAddr+":1", withCookies(p.Cookies[0]))
		if c := onlyCookie(t, f.plan(t, r, f.grant(t, r), "news:1")); c.Secure != secure {
			t.Fatalf("SecureCookies %v: renewed cookie Secure %v", secure, c.Secure)
		}
	}
}

// within reports whether got lies in [from+d, to+d], to the second (cookies and JWTs keep
// whole seconds).
func within(got, from, to time.Time, d time.Duration) bool {
	return !got.Before(from.Add(d).Truncate(time.Second)) && !got.After(to.Add(d))
}

func TestTicketStreamsAndCookiesEndWithTheirCredential(t *testing.T) {
	f := newFixture(t, nil) // ResumeTTL 10m

	// A credential that outlives the cookie: the stream ends at half the cookie's life.
	before := time.Now()
	tk := f.ticket(t, "alice", []string{"news:1"}, before.Add(time.Hour))
	r := request(t, "/v1/events?ticket="+tk, clientAddr+":1", nil)
	p := f.plan(t, r, f.grant(t, r), "news:1")
	after := time.Now()
	c := onlyCookie(t, p)
	if !within(p.Until, before, after, 5*time.Minute) {
		t.Fatalf("Until %v, want now+5m", p.Until)
	}
	if !within(c.Expires, before, after, 10*time.Minute) || !within(cookieExpiry(t, c), before, after, 10*time.Minute) {
		t.Fatalf("cookie expires %v (signed %v), want now+10m", c.Expires, cookieExpiry(t, c))
	}

	// A credential that ends sooner: stream and cookie end with it, and so do the ones the
	// cookie opens (the expiry travels in the cookie).
	credential := time.Now().Add(2 * time.Minute).Truncate(time.Second)
	tk = f.ticket(t, "alice", []string{"news:1"}, credential)
	r = request(t, "/v1/events?ticket="+tk, clientAddr+":1", nil)
	p = f.plan(t, r, f.grant(t, r), "news:1")
	c = onlyCookie(t, p)
	if !p.Until.Equal(credential) {
		t.Fatalf("Until %v, want the credential's expiry %v", p.Until, credential)
	}
	if c.Expires.After(credential) || cookieExpiry(t, c).After(credential) || c.MaxAge > 120 {
		t.Fatalf("cookie outlives the credential (%v): expires %v, signed %v, MaxAge %d",
			credential, c.Expires, cookieExpiry(t, c), c.MaxAge)
	}
	if err := p.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = request(t, "/v1/events?ticket="+tk, clientAddr+":1", withCookies(c))
	g := f.grant(t, r)
	if g.Via != auth.ViaResume || !g.Expires.Equal(credential) {
		t.Fatalf("resume grant %+v", g)
	}
	p = f.plan(t, r, g, "news:1")
	c = onlyCookie(t, p)
	if !p.Until.Equal(credential) || c.Expires.After(credential) || cookieExpiry(t, c).After(credential) {
		t.Fatalf("resumed: Until %v, cookie %v (signed %v), credential %v", p.Until, c.Expires, cookieExpiry(t, c), credential)
	}

	// A ticket that does not say when its credential ends: the cookie's own bounds.
	before = time.Now()
	tk = f.ticket(t, "alice", []string{"news:1"}, time.Time{})
	r = request(t, "/v1/events?ticket="+tk, clientAddr+":1", nil)
	p = f.plan(t, r, f.grant(t, r), "news:1")
	after = time.Now()
	if !within(p.Until, before, after, 5*time.Minute) || !within(onlyCookie(t, p).Expires, before, after, 10*time.Minute) {
		t.Fatalf("no credential expiry: Until %v, cookie %v", p.Until, p.Cookies[0].Expires)
	}
}

func TestTopics(t *testing.T) {
	f := newFixture(t, nil) // MaxTopics 3
	long := strings.Repeat("a", 128)
	ok := []struct {
		in, want []string
	}{
		{[]string{"a"}, []string{"a"}},
		{[]string{"c", "a", "b"}, []string{"c", "a", "b"}},
		{[]string{"b", "a", "b", "c", "a", "c"}, []string{"b", "a", "c"}}, // repeats do not count
		{[]string{long, "A-Z_0.9:x"}, []string{long, "A-Z_0.9:x"}},
	}
	for _, c := range ok {
		got, err := f.Topics(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Topics(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct {
		name   string
		in     []string
		status int
		code   string
	}{
		{"none", nil, http.StatusBadRequest, "bad_request"},
		{"empty list", []string{}, http.StatusBadRequest, "bad_request"},
		{"too many", []string{"a", "b", "c", "d"}, http.StatusBadRequest, "bad_request"},
		{"empty name", []string{""}, http.StatusBadRequest, "bad_request"},
		{"space", []string{"a b"}, http.StatusBadRequest, "bad_request"},
		{"newline", []string{"a\nb"}, http.StatusBadRequest, "bad_request"},
		{"brace", []string{"a{b}"}, http.StatusBadRequest, "bad_request"},
		{"non-ASCII", []string{"café"}, http.StatusBadRequest, "bad_request"},
		{"129 bytes", []string{long + "a"}, http.StatusBadRequest, "bad_request"},
		{"wildcard", []string{"news:*"}, http.StatusBadRequest, "bad_request"},
		{"malformed after good ones", []string{"a", "b", "c d"}, http.StatusBadRequest, "bad_request"},
		{"reserved", []string{"qr:0123"}, http.StatusForbidden, "forbidden"},
		{"reserved among others", []string{"a", "qr:x"}, http.StatusForbidden, "forbidden"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.Topics(c.in)
			wantError(t, err, c.status, c.code)
		})
	}
	if !access.Reserved("qr:") || access.Reserved("qrx:1") || access.Reserved("news:qr:1") {
		t.Fatal("Reserved")
	}
}

// Nobody publishes to a reserved topic or to a watched key's: the key's owner writes it.
func TestPublishable(t *testing.T) {
	for topic, want := range map[string]bool{
		"news:1": true, "keys:1": true, "news:key:1": true,
		"qr:0123": false, "key:qrcode:9f2c": false, "key:": false,
	} {
		if got := access.Publishable(topic); got != want {
			t.Errorf("Publishable(%q) = %v, want %v", topic, got, want)
		}
	}
}

func TestAnonymousGets401AndAuthenticatedGets403(t *testing.T) {
	f := newFixture(t, nil)
	anonReq := request(t, "/v1/events", clientAddr+":1", nil)
	anon := f.grant(t, anonReq)
	if anon.Via != auth.ViaAnonymous || anon.Authenticated() {
		t.Fatalf("anonymous grant %+v", anon)
	}
	tok := f.token(t, "alice", []string{"news:*"}, time.Now().Add(time.Hour))
	userReq := request(t, "/v1/events", clientAddr+":1", bearer(tok))
	user := f.grant(t, userReq)

	cases := []struct {
		name   string
		r      *http.Request
		g      auth.Grant
		topics []string
		status int
		code   string
	}{
		{"anonymous, private", anonReq, anon, []string{"news:1"}, http.StatusUnauthorized, "unauthorized"},
		{"anonymous, public then private", anonReq, anon, []string{"public:a", "news:1"}, http.StatusUnauthorized, "unauthorized"},
		{"anonymous, a user topic", anonReq, anon, []string{"user:alice"}, http.StatusUnauthorized, "unauthorized"},
		{"user, not granted", userReq, user, []string{"orders:1"}, http.StatusForbidden, "forbidden"},
		{"user, granted then not", userReq, user, []string{"news:1", "orders:1"}, http.StatusForbidden, "forbidden"},
		{"user, another user's topic", userReq, user, []string{"user:bob"}, http.StatusForbidden, "forbidden"},
		{"user, malformed before refused", userReq, user, []string{"orders:1", "a b"}, http.StatusBadRequest, "bad_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.Plan(c.r.Context(), c.g, c.topics)
			wantError(t, err, c.status, c.code)
		})
	}
}

func TestHolderIsTheUserOrTheClientAddress(t *testing.T) {
	f := newFixture(t, nil)
	for remote, holder := range map[string]string{
		"198.51.100.7:1234":       "address:198.51.100.7",
		"[2001:db8::1]:80":        "address:2001:db8::1",
		"[::ffff:192.0.2.9]:8080": "address:192.0.2.9",
		"203.0.113.200:65535":     "address:203.0.113.200",
	} {
		r := request(t, "/v1/events", remote, nil)
		p := f.plan(t, r, f.grant(t, r), "public:x")
		want := stream.Plan{Topics: []string{"public:x"}, Holder: holder}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("from %s: plan %+v, want %+v", remote, p, want)
		}
	}

	// Behind a trusted proxy, the address it forwards.
	ips, err := middleware.NewClientIP([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
	r.RemoteAddr = "10.1.2.3:555"
	r.Header.Set("X-Forwarded-For", "192.0.2.44")
	var got stream.Plan
	ips.Handle(func(_ http.ResponseWriter, r *http.Request) { got = f.plan(t, r, f.grant(t, r), "public:x") })(httptest.NewRecorder(), r)
	if got.Holder != "address:192.0.2.44" {
		t.Fatalf("behind a proxy: holder %q", got.Holder)
	}

	tok := f.token(t, "carol", nil, time.Now().Add(time.Hour))
	r = request(t, "/v1/events", "198.51.100.7:1", bearer(tok))
	if p := f.plan(t, r, f.grant(t, r), "public:x", "user:carol"); p.Holder != "carol" {
		t.Fatalf("user's holder %q", p.Holder)
	}
}
