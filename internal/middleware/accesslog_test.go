package middleware

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zeromicro/go-zero/core/logx/logtest"
)

// accessLines returns the access log lines (JSON, content "http") collected so far.
func accessLines(t *testing.T, logs *logtest.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["content"] == "http" {
			out = append(out, m)
		}
	}
	return out
}

const secretTicket = "tk-SECRET-0123456789"

func TestAccessLogWritesOneRedactedLinePerRequest(t *testing.T) {
	logs := logtest.NewCollector(t)
	cases := []struct {
		status int
		level  string
	}{{http.StatusNotFound, "info"}, {http.StatusOK, "info"}, {0, "info"}, {http.StatusServiceUnavailable, "error"}}
	for _, c := range cases {
		logs.Reset()
		h := AccessLog(func(w http.ResponseWriter, r *http.Request) {
			if c.status != 0 {
				w.WriteHeader(c.status)
			}
			// Unwrap lets the stream reach the connection through the log's writer.
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush through AccessLog: %v", err)
			}
		})
		r := httptest.NewRequest(http.MethodGet, "/v1/events?topic=a&ticket="+secretTicket+"&access_token=eyJhbGciOi.x.y", nil)
		r.RemoteAddr = "198.51.100.7:1234"
		r.Header.Set("Authorization", "Bearer "+secretTicket)
		w := httptest.NewRecorder()
		h(w, r)
		if !w.Flushed {
			t.Error("not flushed")
		}
		if strings.Contains(logs.String(), secretTicket) || strings.Contains(logs.String(), "eyJhbGciOi") {
			t.Fatalf("a credential reached the log: %s", logs)
		}
		lines := accessLines(t, logs)
		want := c.status
		if want == 0 {
			want = http.StatusOK
		}
		if len(lines) != 1 {
			t.Fatalf("status %d: %d access lines: %s", c.status, len(lines), logs)
		}
		l := lines[0]
		if l["method"] != "GET" || l["status"] != float64(want) || l["remote"] != "198.51.100.7:1234" || l["level"] != c.level ||
			!strings.HasPrefix(l["uri"].(string), "/v1/events?") || !strings.Contains(l["uri"].(string), "ticket=REDACTED") ||
			!strings.Contains(l["uri"].(string), "topic=a") || l["duration"] == nil {
			t.Fatalf("status %d: line %v", c.status, l)
		}
	}
}

func TestDeferredAccessLogIsWrittenWhenTheStreamEnds(t *testing.T) {
	logs := logtest.NewCollector(t)
	var finish func(context.Context, int)
	h := AccessLog(func(w http.ResponseWriter, r *http.Request) {
		finish = DeferAccessLog(r.Context())
		w.WriteHeader(http.StatusOK)
	})
	r := httptest.NewRequest(http.MethodGet, "/v1/events?ticket="+secretTicket+"&topic=news:1", nil)
	h(httptest.NewRecorder(), r)
	if lines := accessLines(t, logs); len(lines) != 0 {
		t.Fatalf("the line of a deferred request was written when its handler returned: %v", lines)
	}

	finish(context.Background(), http.StatusOK)
	lines := accessLines(t, logs)
	if len(lines) != 1 {
		t.Fatalf("%d lines after finish: %s", len(lines), logs)
	}
	uri, _ := lines[0]["uri"].(string)
	if lines[0]["status"] != float64(http.StatusOK) || strings.Contains(logs.String(), secretTicket) ||
		!strings.Contains(uri, "ticket=REDACTED") || !strings.Contains(uri, "topic=news") {
		t.Fatalf("line %v", lines[0])
	}

	// Status 0 is a stream that never said otherwise: 200.
	logs.Reset()
	finish(context.Background(), 0)
	if lines := accessLines(t, logs); len(lines) != 1 || lines[0]["status"] != float64(http.StatusOK) {
		t.Fatalf("status 0: %v", lines)
	}
}

func TestDeferAccessLogOutsideAccessLogDoesNothing(t *testing.T) {
	logs := logtest.NewCollector(t)
	finish := DeferAccessLog(context.Background())
	finish(context.Background(), http.StatusOK)
	if lines := accessLines(t, logs); len(lines) != 0 {
		t.Fatalf("lines %v", lines)
	}
}
