// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package middleware

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/examples/chat-relay/internal/errs"
)

// AskLimitMiddleware bounds the questions of each client address to perMinute a minute
// (fixed one-minute windows, on this instance). Anyone may ask, and each answer costs an
// upstream request. The address is the connection's: behind a proxy, count by the header
// it sets instead.
type AskLimitMiddleware struct {
	perMinute int
	now       func() time.Time

	mu     sync.Mutex
	window int64 // the minute counted
	counts map[string]int
}

func NewAskLimitMiddleware(perMinute int) *AskLimitMiddleware {
	return &AskLimitMiddleware{perMinute: perMinute, now: time.Now, counts: map[string]int{}}
}

func (m *AskLimitMiddleware) Handle(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !m.allow(r.RemoteAddr) {
			httpx.ErrorCtx(r.Context(), w, errs.TooManyRequests("too many questions from this address; wait a minute"))
			return
		}
		next(w, r)
	}
}

func (m *AskLimitMiddleware) allow(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	minute := m.now().Unix() / 60
	m.mu.Lock()
	defer m.mu.Unlock()
	if minute != m.window {
		m.window, m.counts = minute, map[string]int{}
	}
	if m.counts[host] >= m.perMinute {
		return false
	}
	m.counts[host]++
	return true
}
