// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package svc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/access"
	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/config"
	"github.com/sseapi/sse-api/internal/history"
	"github.com/sseapi/sse-api/internal/keywatch"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/presence"
	"github.com/sseapi/sse-api/internal/qrlogin"
	"github.com/sseapi/sse-api/internal/ratelimit"
	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/respond"
	"github.com/sseapi/sse-api/internal/revoke"
	"github.com/sseapi/sse-api/internal/stream"
	"github.com/sseapi/sse-api/publish"
)

type ServiceContext struct {
	Config config.Config

	Redis     *redisconn.Conn
	Hub       *broker.Hub
	Publisher *publish.Publisher
	Tokens    *auth.Tokens
	Auth      *auth.Authenticator
	// Access resolves what a stream request may read; Streams runs the streams.
	Access  *access.Access
	Streams *stream.Runtime
	Public  auth.Patterns

	QR *qrlogin.Store
	// QRCreates and QRMisses limit, per client address, QR sessions created and lookups of
	// unknown session ids; QRScans limits, per app user, the QR codes scanned.
	QRCreates, QRMisses, QRScans *ratelimit.Limiter

	// Draining is set at SIGTERM: the instance is not ready any more (/readyz).
	Draining atomic.Bool

	// Watch feeds the hub the topics of watched Redis keys ("key:<name>"); nil without rules.
	Watch *keywatch.Watcher

	// History pages through topics' kept events (GET /v1/topics/:topic/events).
	History *history.Reader
	// Presence counts the streams of every topic across instances (nil: Presence.Enabled
	// is off); Revoker disconnects users and keeps their revocations.
	Presence *presence.Tracker
	Revoker  *revoke.Revoker

	ClientIP    *middleware.ClientIP
	Shedding    *middleware.Shedding
	Authorize   rest.Middleware
	PublishBody rest.Middleware
	BatchBody   rest.Middleware
}

// NewServiceContext connects to Redis and builds the engine; it fails fast at start-up.
func NewServiceContext(c config.Config) (*ServiceContext, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ips, err := middleware.NewClientIP(c.TrustedProxies)
	if err != nil {
		return nil, errors.New("TrustedProxies: " + err.Error())
	}
	conn, err := redisconn.Connect(c.Redis)
	if err != nil {
		return nil, err
	}
	if c.Telemetry.Endpoint != "" {
		// Redis commands as spans of the requests and streams that send them.
		if err := redisotel.InstrumentTracing(conn.Client); err != nil {
			return nil, fmt.Errorf("telemetry for redis: %w", err)
		}
	}
	metrics.WatchRedis(conn.Client, c.Redis.Timeout)
	tokens := auth.NewTokens(c.Auth.AccessSecret).WithMaxTTL(c.Auth.MaxTokenTTL).WithVerifiedCache(c.Auth.VerifiedTokens)
	// The limiters run on the one client, so they follow a Sentinel failover and Redis.DB.
	if err := ratelimit.Preload(context.Background(), conn.Client); err != nil {
		logx.Errorf("rate limits: preload script: %v (it is sent with the first call)", err)
	}
	limiter := func(name string, perMinute int) *ratelimit.Limiter {
		return ratelimit.New(conn.Client, publish.Key("limit", name)+":", perMinute, time.Minute)
	}
	anonymous := limiter("anonymous", c.Limits.AnonymousPerMinute)
	authn := &auth.Authenticator{Tokens: tokens, Tickets: auth.NewTickets(conn.Client, c.Auth.TicketTTL)}
	watch, err := keywatch.Start(context.Background(), conn, c.Watch, c.Redis.DB)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	var source broker.Source // a nil *Watcher would not be a nil Source
	if watch != nil {
		source = watch
	}
	hub := broker.NewHub(conn.Client, broker.Options{QueueSize: c.Stream.QueueSize, Source: source})
	// The service's history bounds are the ones every publisher on this Redis applies
	// (publish.HistoryKey); recorded again whenever they are found missing.
	publisher := publish.New(conn.Client, publish.Options{
		HistorySize: c.Stream.HistorySize, HistoryTTL: c.Stream.HistoryTTL, Record: true,
	})
	// Bounded by Redis.Timeout, as every command is (redisconn).
	if err := publisher.RecordHistory(context.Background()); err != nil {
		logx.Errorf("history bounds: %v (recorded with the first publish)", err)
	}
	streamConf := stream.Config{
		Retry: c.Stream.Retry, Heartbeat: c.Stream.Heartbeat, WriteTimeout: c.Stream.WriteTimeout,
		MaxStreams: c.Limits.MaxStreams, MaxStreamsPerUser: c.Limits.MaxStreamsPerUser,
		RefusalRetry: c.Stream.RefusalRetry, DrainWindow: c.Stream.DrainWindow,
	}
	var tracker *presence.Tracker
	if c.Presence.Enabled {
		tracker = presence.New(conn.Client, presence.Config{
			Lease: c.Presence.Lease, Events: c.Presence.Events, Publisher: publisher,
		})
		streamConf.Presence = tracker
	}
	streams := stream.New(hub, streamConf)
	revoker := revoke.New(conn.Client, streams, revoke.Config{
		TTL: c.RevokeTTL(), Cache: c.Revoke.Cache, Replay: c.Revoke.Replay,
	})
	// Every credential of every route passes the revocations.
	authn.Revocations = revoker
	return &ServiceContext{
		Config:    c,
		Redis:     conn,
		Hub:       hub,
		Publisher: publisher,
		Tokens:    tokens,
		Auth:      authn,
		Access: access.New(authn, anonymous.Allow, access.Config{
			Public:           auth.Patterns(c.Topics.Public),
			MaxTopics:        c.Limits.MaxTopicsPerStream,
			ResumeTTL:        c.Auth.ResumeTTL,
			ResumeCookiePath: c.Auth.ResumeCookiePath,
			SecureCookies:    c.Auth.SecureCookies,
			Keys:             keywatch.Rules(c.Watch.Keys),
			MaxPayload:       c.Stream.MaxPayload,
		}),
		Streams: streams,
		Public:  auth.Patterns(c.Topics.Public),

		QR: qrlogin.NewStore(conn.Client, qrlogin.Config{
			TTL: c.QRLogin.TTL, ConfirmWindow: c.QRLogin.ConfirmWindow, Retention: c.QRLogin.Retention,
		}),
		QRCreates: limiter("qr-create", c.QRLogin.CreatePerMinute),
		QRMisses:  limiter("qr-miss", c.QRLogin.MissesPerMinute),
		QRScans:   limiter("qr-scan", c.QRLogin.ScansPerMinute),

		Watch: watch,

		History:  history.New(conn.Client, c.Stream.MaxHistoryPage),
		Presence: tracker,
		Revoker:  revoker,

		ClientIP:    ips,
		Shedding:    middleware.NewShedding(c.RestConf),
		Authorize:   middleware.NewAuthorizeMiddleware(authn).Handle,
		PublishBody: middleware.NewPublishBodyMiddleware().Handle,
		BatchBody:   middleware.NewBatchBodyMiddleware().Handle,
	}, nil
}

// Close stops the hub and closes Redis; this instance's presence leaves Redis first.
func (s *ServiceContext) Close() {
	s.Revoker.Close()
	if s.Presence != nil {
		s.Presence.Close()
	}
	if s.Watch != nil {
		s.Watch.Close()
	}
	_ = s.Hub.Close()
	_ = s.Redis.Close()
}

// Plain wraps the handler of a plain route, as its generated handler asks: it is shed under
// CPU pressure (stream routes never are).
func (s *ServiceContext) Plain(h http.HandlerFunc) http.HandlerFunc { return s.Shedding.Wrap(h) }

// Ready is the readiness probe of the dev server: not shutting down, Redis answers, the
// pub/sub link that carries live events is up (a link that keeps failing while the pool
// answers pings would otherwise read healthy), and so are the key watch's links to every
// node's keyspace notifications (while one is down, changes to watched keys on that node
// are not told).
func (s *ServiceContext) Ready(ctx context.Context) error {
	if s.Draining.Load() {
		return errors.New("shutting down")
	}
	if err := s.Redis.Client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if !s.Hub.LinkUp() {
		return errors.New("pub/sub link down")
	}
	if s.Watch != nil {
		if err := s.Watch.Ready(); err != nil {
			return fmt.Errorf("key watch: %w", err)
		}
	}
	return nil
}

// User is the authenticated user of a route behind the Authorize middleware, or a 401.
func User(ctx context.Context) (auth.Identity, error) {
	who, ok := auth.FromContext(ctx)
	if !ok {
		return auth.Identity{}, apierr.Unauthorized("missing bearer token")
	}
	return who, nil
}

// RunOptions make go-zero answer its own errors (404, 405) in the service's JSON shape.
func (s *ServiceContext) RunOptions() []rest.RunOption {
	opts := []rest.RunOption{
		rest.WithNotFoundHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, apierr.NotFound("no such route"))
		})),
		rest.WithNotAllowedHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, apierr.MethodNotAllowed("method not allowed on this route"))
		})),
	}
	if len(s.Config.CorsOrigins) > 0 {
		opts = append(opts, rest.WithCustomCors(func(h http.Header) {
			// A reconnecting EventSource sends it; fetch-based readers set it themselves.
			h.Add("Access-Control-Allow-Headers", "Last-Event-ID")
		}, nil, s.Config.CorsOrigins...))
	}
	return opts
}

// BatchPublishPath is the route of a batch publish (sse.api).
const BatchPublishPath = "/v1/publish"

// Use installs the service's middlewares on every route.
func (s *ServiceContext) Use(server *rest.Server) {
	httpx.SetErrorHandlerCtx(apierr.Handle)
	server.Use(s.ClientIP.Handle)
	server.Use(middleware.AccessLog)
	// A batch publish carries many events: its body has a bound of its own.
	server.Use(middleware.BodyLimitByPath(s.Config.Stream.MaxPayload,
		map[string]int64{BatchPublishPath: s.Config.Stream.BatchBodyLimit()}))
	server.Use(respond.Middleware)
}

// writeError answers outside go-zero's error handler (its callbacks get a bare writer).
func writeError(w http.ResponseWriter, e *apierr.Error) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e.Body())
}
