// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/zrpc"

	"github.com/sseapi/sse-api/internal/keywatch"
	"github.com/sseapi/sse-api/internal/redisconn"
)

type Config struct {
	rest.RestConf
	Auth struct {
		// AccessSecret signs and verifies the HS256 access tokens; tokens must have an exp.
		AccessSecret string
		// MaxTokenTTL, when set, refuses tokens valid for longer than it.
		MaxTokenTTL time.Duration `json:",optional"`
		// VerifiedTokens is how many verified access tokens are kept (each for a minute at
		// most, never past its exp), so a publisher's or a reconnecting client's token is not
		// verified again on every request; 0 keeps none. Revocation is checked every time.
		VerifiedTokens int `json:",default=1000,range=[0:1000000]"`
		// TicketTTL is how long a stream ticket stays usable.
		TicketTTL time.Duration `json:",default=60s"`
		// ResumeTTL is how long the resume cookie of a ticket's stream lives. Such streams
		// end after half of it, and the reconnect renews the cookie.
		ResumeTTL time.Duration `json:",default=10m"`
		// ResumeCookiePath scopes the resume cookie. Empty: the path of the stream that set
		// it. Behind a proxy that adds a prefix, set it to the stream routes as browsers see
		// them (e.g. /sse/v1, which covers /sse/v1/events and /sse/v1/me/events).
		ResumeCookiePath string `json:",optional"`
		// AccessExpire is how long tokens issued by QR login are valid, in seconds.
		AccessExpire int64 `json:",default=3600"`
		// SecureCookies marks cookies Secure; turn it on wherever the service is behind HTTPS.
		SecureCookies bool `json:",optional"`
	}
	Redis  redisconn.Conf
	Stream StreamConf
	Topics struct {
		// Public lists topic patterns anyone may subscribe to without a token.
		Public []string `json:",optional"`
	}
	Limits  LimitsConf
	QRLogin QRLoginConf
	Demo    DemoConf
	// Watch makes Redis keys that other services write readable as topics "key:<name>".
	Watch keywatch.Conf
	// Presence counts the open streams of every topic across instances.
	Presence PresenceConf
	// Revoke keeps the revocations of POST /v1/users/{uid}/disconnect {"revoke": true}.
	Revoke RevokeConf
	// CorsOrigins lists the origins whose pages may call the service from another origin
	// (credentials included). Empty: same-origin only.
	CorsOrigins []string `json:",optional"`
	// TrustedProxies are addresses or CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `json:",optional"`
	// Rpc serves the server API over zRPC on a port of its own (internal/rpc); off unless
	// the block is there with its ListenOn. Go-zero's process-wide settings that the block
	// embeds (Log, Mode, Telemetry, DevServer, Shutdown, ...) are the top-level ones: the
	// block must leave them out.
	Rpc zrpc.RpcServerConf `json:",optional"`
	// RpcAuth is the shared key every zRPC call presents.
	RpcAuth RpcAuthConf `json:",optional"`
}

type StreamConf struct {
	// Heartbeat is the interval of comment lines that keep idle streams open through proxies.
	Heartbeat time.Duration `json:",default=15s"`
	// Retry is the reconnection delay told to clients when a stream opens.
	Retry time.Duration `json:",default=2s"`
	// MaxPayload bounds request bodies, and so published events; the body of a batch
	// publish may be BatchBodyFactor times as large (see BatchBodyLimit), each of its
	// events' data within MaxPayload.
	MaxPayload int64 `json:",default=65536"`
	// MaxBatch is the most events one batch publish (POST /v1/publish) may hold.
	MaxBatch int `json:",default=1000"`
	// HistorySize and HistoryTTL bound each topic's history kept for resuming.
	HistorySize int64         `json:",default=1000"`
	HistoryTTL  time.Duration `json:",default=1h"`
	// MaxHistoryPage bounds a history page (GET /v1/topics/{topic}/events, zRPC History)
	// in bytes of its events' ids, names and data, besides its limit of events: Redis stops
	// the page before the event that would pass it (an event larger alone still makes a
	// page of its own) and the page says more follow.
	MaxHistoryPage int64 `json:",default=1048576"`
	// QueueSize is how many events a subscriber may fall behind before it is disconnected.
	QueueSize int `json:",default=256"`
	// WriteTimeout bounds each write to a stream: a client that stops reading is
	// disconnected within it, and resumes when it reconnects.
	WriteTimeout time.Duration `json:",default=10s"`
	// RefusalRetry is how long a browser whose stream was refused for a passing reason
	// (over a limit, shutting down, Redis not ready) waits before it tries again (between it
	// and twice it).
	RefusalRetry time.Duration `json:",default=5s"`
	// DrainWindow spreads the end of the streams over this long at shutdown, so clients
	// reconnect to the other instances spread out; it must end before Shutdown.WaitTime.
	DrainWindow time.Duration `json:",default=3s"`
}

// BatchBodyFactor is how many times Stream.MaxPayload the body of a batch publish may be.
const BatchBodyFactor = 16

// BatchBodyLimit bounds the body of a batch publish: BatchBodyFactor × MaxPayload (1 MiB
// by default).
func (s StreamConf) BatchBodyLimit() int64 { return BatchBodyFactor * s.MaxPayload }

type PresenceConf struct {
	// Enabled counts streams for GET /v1/topics/{topic}/presence. Off by default: each
	// instance renews its share of every topic it holds every Lease/3, Redis commands that
	// an idle instance would otherwise not send (15,000 topics: ~18,000 commands/s).
	Enabled bool `json:",optional"`
	// Lease is how long an instance's count stands without renewal (every Lease/3): the
	// streams of an instance that died drop out within it.
	Lease time.Duration `json:",default=30s"`
	// Events publishes "join" and "leave" on presence:<topic> as a user's first stream on
	// the topic opens and last one ends, across instances.
	Events bool `json:",optional"`
}

type RevokeConf struct {
	// TTL is how long a revocation stands; it must outlast every token issued before it.
	// Zero: Auth.MaxTokenTTL plus a minute, or for good when tokens have no bound.
	TTL time.Duration `json:",optional"`
	// Cache is how long an instance believes what it read of a user's revocation.
	Cache time.Duration `json:",default=1s"`
	// Replay is how long a disconnect is kept in Redis (sse:control:log) for the instances
	// whose control subscription is down when it is told (Redis restarting, a network
	// blip): one that subscribes again within it ends the streams the disconnect was for.
	// 0 keeps nothing: such a disconnect never reaches that instance's open streams (a
	// revocation does, from its not-before, once the subscription is back).
	Replay time.Duration `json:",default=5m"`
}

// RevokeTTL is how long a revocation is kept (0: for good); see RevokeConf.TTL.
func (c Config) RevokeTTL() time.Duration {
	switch {
	case c.Revoke.TTL > 0:
		return c.Revoke.TTL
	case c.Auth.MaxTokenTTL > 0:
		return c.Auth.MaxTokenTTL + time.Minute
	}
	return 0
}

type QRLoginConf struct {
	// TTL is the life of a session; ConfirmWindow the time left to confirm after a scan;
	// Retention how long a finished session still answers "gone" rather than "unknown".
	TTL           time.Duration `json:",default=120s"`
	ConfirmWindow time.Duration `json:",default=60s"`
	Retention     time.Duration `json:",default=10m"`
	// Content is what the QR code encodes; {id} stands for the session id and {key} for its
	// scan key, which the phone must present to scan: both are required. Empty means
	// DefaultQRContent (go-zero's default tags cannot hold '=').
	Content string `json:",optional"`
	// BasePath is where the session routes are as browsers see them (behind a proxy that
	// adds a prefix, include it). Session URLs are built on it, and each session's binding
	// cookie is scoped to BasePath/<id>, so it reaches that session's routes only.
	BasePath string `json:",default=/v1/qr/sessions"`
	// CreatePerMinute and MissesPerMinute bound, per client address, session creation and
	// lookups of unknown ids (guessing).
	CreatePerMinute int `json:",default=20"`
	MissesPerMinute int `json:",default=30"`
	// ScansPerMinute bounds the scans of one app user: an account cannot sweep up codes.
	ScansPerMinute int `json:",default=10"`
	// AutoExchange lets the shipped login page sign in as soon as the phone confirms. Off,
	// the page first asks "Sign in as a***e?", so a browser is not signed in to an account
	// that is not its user's (someone who saw the code and confirmed it first).
	AutoExchange bool `json:",optional"`
	// ExpirySweep is how often an open session stream asks Redis whether its session has
	// expired, besides the timer at the deadline, while this instance's clock is behind
	// Redis's: that timer runs on this instance's clock and would push the expiry late by as
	// much. Zero or less means the default (see Sweep): the sweep cannot be turned off.
	ExpirySweep time.Duration `json:",default=5s"`
}

// DefaultQRExpirySweep is QRLogin.ExpirySweep when it is not set.
const DefaultQRExpirySweep = 5 * time.Second

// Sweep is the interval of the expiry sweep: ExpirySweep, or the default when it is not
// positive (a config built in code has no defaults).
func (q QRLoginConf) Sweep() time.Duration {
	if q.ExpirySweep <= 0 {
		return DefaultQRExpirySweep
	}
	return q.ExpirySweep
}

// DefaultQRContent is what a QR code encodes when QRLogin.Content is not set.
const DefaultQRContent = "sseapi://qr-login?id={id}&key={key}"

// ContentFor is what the QR code of session id with scan key key encodes.
func (q QRLoginConf) ContentFor(id, key string) string {
	tpl := q.Content
	if tpl == "" {
		tpl = DefaultQRContent
	}
	return strings.NewReplacer("{id}", id, "{key}", key).Replace(tpl)
}

// DemoConf is the demo-only token mint behind the pages' "get a demo token" buttons.
type DemoConf struct {
	// Enabled registers POST /v1/demo/token, which gives anyone who asks a token for one of
	// Users. It is for the embedded development Redis only: Validate refuses it otherwise, so
	// a deployment made from the shipped config cannot expose a token mint.
	Enabled bool `json:",optional"`
	// Users are the names a demo token may be minted for; empty means DefaultDemoUsers.
	Users []string `json:",optional"`
	// TokenTTL is how long a demo token is valid.
	TokenTTL time.Duration `json:",default=1h"`
}

// DefaultDemoUsers are the demo users when Demo.Users is not set.
var DefaultDemoUsers = []string{"alice", "bob"}

// UserNames returns the configured demo users, or the defaults.
func (d DemoConf) UserNames() []string {
	if len(d.Users) == 0 {
		return DefaultDemoUsers
	}
	return d.Users
}

// demoUser is what a demo user name may be: it becomes the uid and the topic user:<name>.
var demoUser = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func (d DemoConf) validate(redis redisconn.Conf) error {
	if !d.Enabled {
		return nil
	}
	if !redis.Embedded() {
		return errors.New("Demo.Enabled is on, but Redis.Addr or Redis.Addrs names a real Redis: the demo " +
			"token mint gives tokens to anyone and is for the embedded development Redis only; set " +
			"Demo.Enabled: false (the default) for any deployment")
	}
	for _, u := range d.UserNames() {
		if !demoUser.MatchString(u) {
			return fmt.Errorf("Demo.Users: %q is not a valid user name ([A-Za-z0-9_.-]{1,64})", u)
		}
	}
	if d.TokenTTL <= 0 {
		return errors.New("Demo.TokenTTL must be positive")
	}
	return nil
}

type LimitsConf struct {
	MaxStreams         int `json:",default=19000"`
	MaxStreamsPerUser  int `json:",default=64"`
	MaxTopicsPerStream int `json:",default=16"`
	// AnonymousPerMinute bounds, per client address, requests that carry no token:
	// anonymous streams and ticket redemptions.
	AnonymousPerMinute int `json:",default=120"`
}

// DevAccessSecret is the Auth.AccessSecret shipped in etc/sse-api.yaml for development.
// Everyone can read it, so anyone could sign tokens with it: Validate accepts it with the
// embedded Redis only.
const DevAccessSecret = "dev-secret-change-me-0123456789"

// goZeroWaitTime is go-zero's Shutdown.WaitTime when the block leaves it out.
const goZeroWaitTime = 5500 * time.Millisecond

// Validate refuses settings that would break the service in ways that are hard to see.
func (c Config) Validate() error {
	if len(c.Auth.AccessSecret) < 8 {
		return errors.New("Auth.AccessSecret must have at least 8 characters")
	}
	if c.Auth.AccessSecret == DevAccessSecret && !c.Redis.Embedded() {
		return errors.New("Auth.AccessSecret is the development secret shipped in etc/sse-api.yaml, which " +
			"anyone can read, and Redis is a real one: set Auth.AccessSecret: ${SSE_ACCESS_SECRET} and put " +
			"a secret of your own in the environment variable SSE_ACCESS_SECRET")
	}
	if c.Middlewares.Log {
		return errors.New("Middlewares.Log must be false: go-zero's request log writes raw request URIs " +
			"(tickets in query strings) and dumps whole requests, credentials included, on 5xx answers; " +
			"sse-api writes its own access log, with credentials removed and one line per stream when it ends")
	}
	if c.Verbose {
		return errors.New("Verbose: true is not supported: go-zero's verbose log keeps a copy of every " +
			"response body in memory until the request ends (a stream never ends) and logs whole " +
			"requests, credentials included; use Log.Level for more logs")
	}
	for _, o := range c.CorsOrigins {
		if o == "*" {
			return errors.New("CorsOrigins: list the origins; * cannot carry credentials")
		}
	}
	if q := c.QRLogin.Content; q != "" && (!strings.Contains(q, "{id}") || !strings.Contains(q, "{key}")) {
		return errors.New("QRLogin.Content must contain {id} and {key}: a phone scans only with the key of the QR")
	}
	if err := c.Demo.validate(c.Redis); err != nil {
		return err
	}
	if err := c.Watch.Validate(); err != nil {
		return err
	}
	if err := c.validateRpc(); err != nil {
		return err
	}
	wait := c.Shutdown.WaitTime
	if wait <= 0 {
		wait = goZeroWaitTime
	}
	if c.Stream.DrainWindow+time.Second >= wait {
		return fmt.Errorf("Stream.DrainWindow (%v) plus a second for the last writes must end before "+
			"Shutdown.WaitTime (%v), when go-zero kills the process", c.Stream.DrainWindow, wait)
	}
	if c.Presence.Enabled && c.Presence.Lease < time.Second {
		return fmt.Errorf("Presence.Lease (%v) must be at least 1s: it is renewed every third of it", c.Presence.Lease)
	}
	if c.Revoke.TTL < 0 || c.Revoke.Cache < 0 || c.Revoke.Replay < 0 {
		return errors.New("Revoke.TTL, Revoke.Cache and Revoke.Replay must not be negative")
	}
	if c.Revoke.TTL > 0 && c.Auth.MaxTokenTTL > 0 && c.Revoke.TTL < c.Auth.MaxTokenTTL {
		return fmt.Errorf("Revoke.TTL (%v) is shorter than Auth.MaxTokenTTL (%v): a revoked token would "+
			"work again once the revocation expired", c.Revoke.TTL, c.Auth.MaxTokenTTL)
	}
	if c.Stream.HistorySize < 1 || c.Stream.MaxPayload < 1 || c.Stream.QueueSize < 1 {
		return errors.New("Stream.HistorySize, Stream.MaxPayload and Stream.QueueSize must be positive")
	}
	if c.Stream.MaxBatch < 1 {
		return errors.New("Stream.MaxBatch must be positive")
	}
	if c.Stream.MaxHistoryPage < 1 {
		return fmt.Errorf("Stream.MaxHistoryPage (%d) must be positive: it bounds a history page in bytes",
			c.Stream.MaxHistoryPage)
	}
	return nil
}
