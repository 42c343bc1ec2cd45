package respond

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLogicReachesTheHeadersWhileTheRequestIsHandled(t *testing.T) {
	var kept context.Context
	h := Middleware(func(w http.ResponseWriter, r *http.Request) {
		SetCookie(r.Context(), &http.Cookie{Name: "a", Value: "1"})
		SetHeader(r.Context(), "X-A", "1")
		kept = r.Context()
	})
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Header().Get("Set-Cookie") != "a=1" || rec.Header().Get("X-A") != "1" {
		t.Fatalf("headers %v", rec.Header())
	}
	// A context that outlives its handler (a detached stream's) no longer reaches them.
	if header(kept) != nil {
		t.Fatal("the headers are still reachable after the handler returned")
	}
	SetHeader(kept, "X-B", "1")
	if rec.Header().Get("X-B") != "" {
		t.Fatal("a header was set after the handler returned")
	}
}
