// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package config

import (
	"errors"
	"strings"
	"time"

	"github.com/zeromicro/go-zero/rest"

	"github.com/sseapi/sse-api/internal/redisconn"
)

type Config struct {
	rest.RestConf
	Auth struct {
		// AccessSecret signs and verifies HS256 tokens (go-zero's JWT).
		AccessSecret string
		// TicketTTL is how long a stream ticket stays usable.
		TicketTTL time.Duration `json:",default=60s"`
		// ResumeTTL is how long the resume cookie of a ticket's stream lives. Such streams
		// end after half of it, and the reconnect renews the cookie.
		ResumeTTL time.Duration `json:",default=10m"`
		// ResumeCookiePath scopes the resume cookie to the events route.
		ResumeCookiePath string `json:",default=/v1/events"`
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
	// TrustedProxies are addresses or CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `json:",optional"`
}

type StreamConf struct {
	// Heartbeat is the interval of comment lines that keep idle streams open through proxies.
	Heartbeat time.Duration `json:",default=15s"`
	// Retry is the reconnection delay told to clients when a stream opens.
	Retry time.Duration `json:",default=2s"`
	// MaxPayload bounds request bodies, and so published events.
	MaxPayload int64 `json:",default=65536"`
	// HistorySize and HistoryTTL bound each topic's history kept for resuming.
	HistorySize int64         `json:",default=1000"`
	HistoryTTL  time.Duration `json:",default=1h"`
	// QueueSize is how many events a subscriber may fall behind before it is disconnected.
	QueueSize int `json:",default=256"`
}

type QRLoginConf struct {
	// TTL is the life of a session; ConfirmWindow the time left to confirm after a scan;
	// Retention how long a finished session still answers "gone" rather than "unknown".
	TTL           time.Duration `json:",default=120s"`
	ConfirmWindow time.Duration `json:",default=60s"`
	Retention     time.Duration `json:",default=10m"`
	// Content is what the QR code encodes; {id} stands for the session id. Empty means
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
}

// DefaultQRContent is what a QR code encodes when QRLogin.Content is not set.
const DefaultQRContent = "sseapi://qr-login?id={id}"

// ContentFor is what the QR code of session id encodes.
func (q QRLoginConf) ContentFor(id string) string {
	tpl := q.Content
	if tpl == "" {
		tpl = DefaultQRContent
	}
	return strings.ReplaceAll(tpl, "{id}", id)
}

type LimitsConf struct {
	MaxStreams         int `json:",default=19000"`
	MaxStreamsPerUser  int `json:",default=64"`
	MaxTopicsPerStream int `json:",default=16"`
	// AnonymousPerMinute bounds, per client address, requests that carry no token:
	// anonymous streams and ticket redemptions.
	AnonymousPerMinute int `json:",default=120"`
}

// Validate refuses settings that would break the service in ways that are hard to see.
func (c Config) Validate() error {
	if len(c.Auth.AccessSecret) < 8 {
		return errors.New("Auth.AccessSecret must have at least 8 characters")
	}
	if c.Verbose {
		return errors.New("Verbose: true is not supported: go-zero's verbose log keeps a copy of every " +
			"response body in memory until the request ends (a stream never ends) and logs whole " +
			"requests, credentials included; use Log.Level for more logs")
	}
	if c.QRLogin.Content != "" && !strings.Contains(c.QRLogin.Content, "{id}") {
		return errors.New("QRLogin.Content must contain {id}")
	}
	if c.Stream.HistorySize < 1 || c.Stream.MaxPayload < 1 || c.Stream.QueueSize < 1 {
		return errors.New("Stream.HistorySize, Stream.MaxPayload and Stream.QueueSize must be positive")
	}
	return nil
}
