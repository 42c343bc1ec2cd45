package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// batchServer serves the batch-body parser behind BodyLimitByPath, as the service has it:
// /v1/publish gets its own bound, every other path the small one.
func batchServer(t *testing.T, small, batch int64) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var reached atomic.Int32
	next := func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		events, ok := BatchBodyFrom(r.Context())
		if !ok {
			http.Error(w, "no batch in the context", http.StatusInternalServerError)
			return
		}
		out := make([][3]string, len(events))
		for i, e := range events {
			out[i] = [3]string{e.Topic, e.Event, string(e.Data)}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
	srv := httptest.NewServer(BodyLimitByPath(small, map[string]int64{"/v1/publish": batch})(NewBatchBodyMiddleware().Handle(next)))
	t.Cleanup(srv.Close)
	return srv, &reached
}

func TestBatchBodyReadsEveryEventAsSent(t *testing.T) {
	srv, _ := batchServer(t, 64, 1024)
	resp := post(t, srv.URL+"/v1/publish", strings.NewReader(
		`{"events":[{"topic":"a","data":{"x": [1, 2]}},{"topic":"b","event":"e","data":"s"},{"topic":"c"}]}`))
	defer resp.Body.Close()
	var got [][3]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	want := [][3]string{{"a", "", `{"x":[1,2]}`}, {"b", "e", `"s"`}, {"c", "", ""}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestBatchBodyRefusesWhatItCannotRead(t *testing.T) {
	srv, reached := batchServer(t, 64, 1024)
	big := `{"events":[{"topic":"a","data":"` + strings.Repeat("x", 1100) + `"}]}`
	for _, c := range []struct {
		path, body string
		status     int
		code       string
	}{
		{"/v1/publish", `{"events":[{"topic":"a","data":1}`, http.StatusBadRequest, "bad_request"},
		{"/v1/publish", `{"events":[{"topic":"a","data":1,"extra":2}]}`, http.StatusBadRequest, "bad_request"},
		{"/v1/publish", `{"events":[]} {}`, http.StatusBadRequest, "bad_request"},
		{"/v1/publish", big, http.StatusRequestEntityTooLarge, "payload_too_large"},
		// Another path keeps the small bound: 100 bytes is fine for a batch, not for it.
		{"/v1/other", `{"events":[{"topic":"a","data":"` + strings.Repeat("x", 80) + `"}]}`, http.StatusRequestEntityTooLarge, "payload_too_large"},
	} {
		wantResponseError(t, post(t, srv.URL+c.path, hideLength{strings.NewReader(c.body)}), c.status, c.code)
	}
	// With a Content-Length over the bound: refused before the body is read.
	wantResponseError(t, post(t, srv.URL+"/v1/publish", strings.NewReader(big)), http.StatusRequestEntityTooLarge, "payload_too_large")
	if n := reached.Load(); n != 0 {
		t.Fatalf("the handler ran %d times on refused bodies", n)
	}
	resp := post(t, srv.URL+"/v1/publish", strings.NewReader(`{"events":[{"topic":"a","data":"`+strings.Repeat("x", 80)+`"}]}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a batch over the small bound but within its own: %d", resp.StatusCode)
	}
}
