package devserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/zeromicro/go-zero/core/service"
)

func TestListensOnLoopbackUnlessConfigured(t *testing.T) {
	if got := Addr(service.DevServerConfig{Port: 6060}); got != "127.0.0.1:6060" {
		t.Fatalf("default address %s: pprof and metrics must not face the world by default", got)
	}
	if got := Addr(service.DevServerConfig{Host: "0.0.0.0", Port: 6060}); got != "0.0.0.0:6060" {
		t.Fatalf("configured address %s", got)
	}
}

func TestProbes(t *testing.T) {
	var notReady error
	h := Handler(service.DevServerConfig{HealthPath: "/healthz", HealthResponse: "OK"},
		func(context.Context) error { return notReady })
	code := func(path string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code
	}
	for _, p := range []string{"/livez", "/readyz", "/healthz"} {
		if got := code(p); got != 200 {
			t.Errorf("%s: %d while ready", p, got)
		}
	}
	notReady = errors.New("shutting down")
	if code("/livez") != 200 || code("/readyz") != 503 || code("/healthz") != 503 {
		t.Errorf("not ready: livez %d readyz %d healthz %d", code("/livez"), code("/readyz"), code("/healthz"))
	}
}
