package access_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/sseapi/sse-api/internal/access"
	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/publish"
)

// A batch is refused as a whole for its first bad event, which the message names; shape
// comes before rights, so a malformed event is a 400 even after a forbidden one.
func TestCheckBatchNamesTheRefusedEvent(t *testing.T) {
	a := access.New(nil, nil, access.Config{MaxPayload: 16})
	who := auth.Identity{UID: "ann", Publish: auth.Patterns{"news:*", "qr:*", "key:*"}}
	ok := publish.Event{Topic: "news:1", Data: []byte(`1`)}
	for _, c := range []struct {
		name   string
		events []publish.Event
		status int
		index  string
	}{
		{"empty", nil, http.StatusBadRequest, ""},
		{"too many", []publish.Event{ok, ok, ok, ok}, http.StatusRequestEntityTooLarge, ""},
		{"topic", []publish.Event{ok, {Topic: "a b", Data: []byte(`1`)}}, http.StatusBadRequest, "event 1:"},
		{"event name", []publish.Event{ok, ok, {Topic: "news:1", Event: "reset", Data: []byte(`1`)}}, http.StatusBadRequest, "event 2:"},
		{"no data", []publish.Event{{Topic: "news:1"}}, http.StatusBadRequest, "event 0:"},
		{"bad json", []publish.Event{ok, {Topic: "news:1", Data: []byte(`{`)}}, http.StatusBadRequest, "event 1:"},
		{"large", []publish.Event{ok, {Topic: "news:1", Data: []byte(`"` + strings.Repeat("x", 20) + `"`)}}, http.StatusRequestEntityTooLarge, "event 1:"},
		{"not granted", []publish.Event{ok, {Topic: "other:1", Data: []byte(`1`)}}, http.StatusForbidden, "event 1:"},
		{"reserved", []publish.Event{{Topic: "qr:abc", Data: []byte(`1`)}}, http.StatusForbidden, "event 0:"},
		{"watched key", []publish.Event{ok, {Topic: "key:demo", Data: []byte(`1`)}}, http.StatusForbidden, "event 1:"},
		{"shape first", []publish.Event{{Topic: "other:1", Data: []byte(`1`)}, {Topic: "news:1", Data: []byte(`{`)}}, http.StatusBadRequest, "event 1:"},
	} {
		err := a.CheckBatch(who, c.events, 3)
		var e *apierr.Error
		if !errors.As(err, &e) || e.Status != c.status || !strings.HasPrefix(e.Message, c.index) {
			t.Errorf("%s: %v, want %d naming %q", c.name, err, c.status, c.index)
		}
	}
	if err := a.CheckBatch(who, []publish.Event{ok, {Topic: "news:2", Event: "x", Data: []byte(`{"a":1}`)}}, 3); err != nil {
		t.Fatalf("a good batch: %v", err)
	}
}

// One event, as both publish routes (HTTP and zRPC) check it.
func TestCheckPublish(t *testing.T) {
	a := access.New(nil, nil, access.Config{})
	who := auth.Identity{UID: "ann", Publish: auth.Patterns{"news:*", "qr:*", "key:*", "presence:*"}}
	for _, c := range []struct {
		name, topic, event string
		status             int
		message            string
	}{
		{"granted", "news:1", "update", 0, ""},
		{"no event name", "news:1", "", 0, ""},
		{"malformed topic", "a b", "", http.StatusBadRequest, "malformed topic"},
		{"the service's own event", "news:1", "error", http.StatusBadRequest, "malformed event name"},
		{"not granted", "other:1", "", http.StatusForbidden, "not allowed"},
		{"reserved", "qr:abc", "", http.StatusForbidden, "not allowed"},
		{"presence", "presence:news:1", "", http.StatusForbidden, "not allowed"},
		{"a watched key says why", "key:demo", "", http.StatusForbidden, "read-only"},
	} {
		err := a.CheckPublish(who, c.topic, c.event)
		if c.status == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var e *apierr.Error
		if !errors.As(err, &e) || e.Status != c.status || !strings.Contains(e.Message, c.message) {
			t.Errorf("%s: %v, want %d with %q", c.name, err, c.status, c.message)
		}
	}
}
