package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/examples/chat-relay/internal/errs"
)

func TestAskLimitCountsEachAddressOnItsOwn(t *testing.T) {
	httpx.SetErrorHandlerCtx(errs.Handle)
	m := NewAskLimitMiddleware(2)
	at := time.Unix(1_800_000_000, 0)
	m.now = func() time.Time { return at }
	h := m.Handle(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	ask := func(addr string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/v1/answers", nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h(w, r)
		return w
	}
	for i := range 2 {
		if w := ask("192.0.2.1:1000"); w.Code != http.StatusOK {
			t.Fatalf("question %d: %d", i+1, w.Code)
		}
	}
	// Another port of the same address counts with it; another address does not.
	w := ask("192.0.2.1:2000")
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), `"code":"rate_limited"`) {
		t.Fatalf("third question: %d %s, want 429 rate_limited", w.Code, w.Body)
	}
	if w := ask("192.0.2.2:1000"); w.Code != http.StatusOK {
		t.Fatalf("another address: %d", w.Code)
	}
	at = at.Add(time.Minute)
	if w := ask("192.0.2.1:1000"); w.Code != http.StatusOK {
		t.Fatalf("the next minute: %d", w.Code)
	}
}
