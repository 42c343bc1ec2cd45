package apierr

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zeromicro/go-zero/rest/httpx"
)

type ticketReq struct {
	Topics []string `json:"topics"`
}

// What go-zero's parsing of a request fails with is the client's fault, answered 400 or 413,
// even when it wraps io.ErrUnexpectedEOF, which a Redis connection that drops also gives.
func TestParsingErrorsAreTheClients(t *testing.T) {
	cases := []struct {
		name, body string
		limit      int64
		status     int
	}{
		{"truncated JSON", `{"topics": ["a"`, 0, http.StatusBadRequest},
		{"not JSON", `topics=a`, 0, http.StatusBadRequest},
		{"wrong type", `{"topics": 3}`, 0, http.StatusBadRequest},
		{"over the limit", `{"topics": ["` + strings.Repeat("a", 100) + `"]}`, 16, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/tickets", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			if tc.limit > 0 {
				r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, tc.limit)
			}
			var req ticketReq
			err := httpx.Parse(r, &req)
			if err == nil {
				t.Fatal("parsed")
			}
			if status, _ := Handle(context.Background(), Parsing(err)); status != tc.status {
				t.Fatalf("%v: status %d, want %d", err, status, tc.status)
			}
		})
	}
}
