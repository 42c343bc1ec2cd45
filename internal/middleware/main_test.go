package middleware

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
)

func TestMain(m *testing.M) {
	// As the service installs it (svc.ServiceContext.Use): errors answer as JSON.
	httpx.SetErrorHandlerCtx(apierr.Handle)
	os.Exit(m.Run())
}

// wantJSONError checks an answer in the service's error shape: status, JSON
// {"code", "message"} and nothing else.
func wantJSONError(t *testing.T, status int, header http.Header, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d (body %s)", status, wantStatus, body)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q (body %s)", ct, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	code, _ := got["code"].(string)
	msg, _ := got["message"].(string)
	if len(got) != 2 || code != wantCode || msg == "" {
		t.Fatalf("body %s, want {\"code\": %q, \"message\": ...}", body, wantCode)
	}
}

// wantResponseError is wantJSONError on a client's response.
func wantResponseError(t *testing.T, resp *http.Response, wantStatus int, wantCode string) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantJSONError(t, resp.StatusCode, resp.Header, body, wantStatus, wantCode)
}
