// Package demo mints access tokens for named demo users, so that the pages the service
// serves (internal/web) work on a fresh `go run .` without a token tool. Its route exists
// only when Demo.Enabled is set, and config.Validate allows that with the embedded
// development Redis only: a deployment pointed at a real Redis cannot expose a token mint.
//
// It is registered by hand rather than declared in sse.api because goctl registers every
// declared route unconditionally; a disabled mint must be an unknown route (404 for any
// method), not a route that answers 404, 405 or 400 depending on what is sent.
package demo

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/config"
	"github.com/sseapi/sse-api/internal/keywatch"
)

// Path is the route of the mint.
const Path = "/v1/demo/token"

// TopicPrefix starts the topics every demo user may publish to and read.
const TopicPrefix = "demo:"

// TokenReq names the demo user: {"user": "alice"}.
type TokenReq struct {
	User string `json:"user"`
}

// TokenResp is the token and what it allows, so a page can show it without decoding it.
type TokenResp struct {
	Token     string   `json:"token"`
	UID       string   `json:"uid"`
	ExpiresAt string   `json:"expiresAt"`
	Publish   []string `json:"publish"`
	Subscribe []string `json:"subscribe"`
}

// Minter signs demo tokens.
type Minter struct {
	tokens *auth.Tokens
	conf   config.DemoConf
	now    func() time.Time
}

// NewMinter signs with tokens for the users of conf.
func NewMinter(tokens *auth.Tokens, conf config.DemoConf) *Minter {
	return &Minter{tokens: tokens, conf: conf, now: time.Now}
}

// Claims are the modest rights of a demo user: the shared demo topics and the user's own
// topic, for reading and publishing, and reading the demo keys (the console's watched
// keys, KeyPrefix); nothing else.
func Claims(user string) (publish, subscribe []string) {
	topics := []string{TopicPrefix + "*", auth.UserTopicPrefix + user}
	return topics, append(slices.Clone(topics), keywatch.TopicPrefix+KeyPrefix+"*")
}

// Mint returns a token for user, who must be one of the configured demo users.
func (m *Minter) Mint(user string) (*TokenResp, error) {
	users := m.conf.UserNames()
	if !slices.Contains(users, user) {
		return nil, apierr.BadRequest("unknown demo user; one of: " + strings.Join(users, ", "))
	}
	publish, subscribe := Claims(user)
	expires := m.now().Add(m.conf.TokenTTL)
	token, err := m.tokens.Sign(map[string]any{
		auth.ClaimUID:       user,
		auth.ClaimPublish:   publish,
		auth.ClaimSubscribe: subscribe,
	}, expires)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	return &TokenResp{
		Token: token, UID: user, ExpiresAt: expires.UTC().Format(time.RFC3339),
		Publish: publish, Subscribe: subscribe,
	}, nil
}

// Handler answers POST Path.
func (m *Minter) Handler(w http.ResponseWriter, r *http.Request) {
	var req TokenReq
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			httpx.ErrorCtx(r.Context(), w, err) // the service's error handler makes it a 413
			return
		}
		httpx.ErrorCtx(r.Context(), w, apierr.BadRequest(`body must be {"user": "<demo user>"}`))
		return
	}
	resp, err := m.Mint(req.User)
	if err != nil {
		httpx.ErrorCtx(r.Context(), w, err)
		return
	}
	httpx.OkJsonCtx(r.Context(), w, resp)
}

// Register adds the mint to server and says loudly that it is on. Call it only when
// Demo.Enabled is set (config.Validate has then checked that Redis is the embedded one).
func Register(server *rest.Server, conf config.DemoConf, tokens *auth.Tokens) {
	logx.Alert("DEMO TOKEN MINT ON: POST " + Path + " gives a token for the demo users [" +
		strings.Join(conf.UserNames(), ", ") + "] to anyone who asks (Demo.Enabled). " +
		"Development only; turn Demo.Enabled off for anything else.")
	server.AddRoute(rest.Route{
		Method:  http.MethodPost,
		Path:    Path,
		Handler: NewMinter(tokens, conf).Handler,
	})
}
