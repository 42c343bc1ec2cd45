package middleware

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// publishServer serves the publish-body parser behind BodyLimit(limit), as the publish
// route has them; its handler answers with what the parser found.
func publishServer(t *testing.T, limit int64) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var reached atomic.Int32
	next := func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		body, ok := PublishBodyFrom(r.Context())
		if !ok {
			http.Error(w, "no publish body in the context", http.StatusInternalServerError)
			return
		}
		// The generated handler parses the request again (path parameters): the body
		// must read as empty by then.
		rest, err := io.ReadAll(r.Body)
		if err != nil || len(rest) != 0 || r.ContentLength != 0 {
			http.Error(w, "the body was left for the handler", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"event": body.Event, "data": string(body.Data)})
	}
	srv := httptest.NewServer(BodyLimit(limit)(NewPublishBodyMiddleware().Handle(next)))
	t.Cleanup(srv.Close)
	return srv, &reached
}

// hideLength makes the client send r chunked, with no Content-Length.
type hideLength struct{ io.Reader }

func post(t *testing.T, url string, body io.Reader) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestPublishBodyKeepsDataAsSent(t *testing.T) {
	srv, _ := publishServer(t, 1<<16)
	cases := []struct {
		name, body, event, data string
	}{
		{"object, key order kept", `{"event": "e1", "data": {"z": 1, "a": {"y": [1, 2 ,3]}, "m": 2}}`,
			"e1", `{"z":1,"a":{"y":[1,2,3]},"m":2}`},
		{"escapes kept", `{"data": {"s": "\u00e9\n\"q\"<\/b>\u2028\ud83d\ude00", "t": "\\"}}`,
			"", `{"s":"\u00e9\n\"q\"<\/b>\u2028\ud83d\ude00","t":"\\"}`},
		{"raw non-ASCII kept", "{\"data\": \"caf\u00e9 \u2028 \U0001F600\"}", "", "\"caf\u00e9 \u2028 \U0001F600\""},
		{"array", `{"data": [ 1, "two", null, {"b": 2, "a": 1}, [] ]}`, "", `[1,"two",null,{"b":2,"a":1},[]]`},
		{"string", `{"event": "s", "data": "hello, world"}`, "s", `"hello, world"`},
		{"integer", `{"data": 42}`, "", `42`},
		{"number text kept", `{"data": -1.50e+3}`, "", `-1.50e+3`},
		{"big integer kept exactly", `{"data": 12345678901234567890123}`, "", `12345678901234567890123`},
		{"true", `{"data": true}`, "", `true`},
		{"false", `{"data": false}`, "", `false`},
		{"null", `{"data": null}`, "", `null`},
		{"empty object", `{"data": {}}`, "", `{}`},
		{"data before event, whitespace around", "\n\t {\"data\" : 1 ,\r\n \"event\" : \"late\" } \n", "late", `1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, chunked := range []bool{false, true} {
				var body io.Reader = strings.NewReader(c.body)
				if chunked {
					body = hideLength{body}
				}
				resp := post(t, srv.URL, body)
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var got struct{ Event, Data string }
				if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &got) != nil {
					t.Fatalf("chunked %v: %d %s", chunked, resp.StatusCode, raw)
				}
				if got.Event != c.event || got.Data != c.data {
					t.Fatalf("chunked %v: event %q data %s, want %q %s", chunked, got.Event, got.Data, c.event, c.data)
				}
			}
		})
	}
}

func TestPublishBodyRefusesWhatIsNotOneEventObject(t *testing.T) {
	srv, reached := publishServer(t, 1<<16)
	cases := map[string]string{
		"empty body":              ``,
		"missing data":            `{"event": "e"}`,
		"empty object":            `{}`,
		"unknown field":           `{"data": 1, "extra": 2}`,
		"unknown field, any case": `{"data": 1, "Topic": "x"}`,
		"two objects":             `{"data": 1}{"data": 2}`,
		"two objects, spaced":     `{"data": 1} {"data": 2}`,
		"trailing garbage":        `{"data": 1} x`,
		"invalid JSON":            `{"data": }`,
		"unterminated":            `{"data": 1`,
		"bad literal":             `{"data": tru}`,
		"single quotes":           `{'data': 1}`,
		"event not a string":      `{"event": 1, "data": 1}`,
		"an array":                `[{"data": 1}]`,
		"a string":                `"data"`,
		"top-level null":          `null`,
		"not JSON at all":         `event=e&data=1`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			wantResponseError(t, post(t, srv.URL, strings.NewReader(body)), http.StatusBadRequest, "bad_request")
		})
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d refused bodies reached the handler", n)
	}
}

func TestPublishBodyOverTheLimit(t *testing.T) {
	const limit = 64
	srv, reached := publishServer(t, limit)
	fits := `{"data": "` + strings.Repeat("x", limit-len(`{"data": ""}`)) + `"}`
	if len(fits) != limit {
		t.Fatalf("len %d", len(fits))
	}
	over := `{"data": "` + strings.Repeat("x", limit) + `"}`

	// With a Content-Length, BodyLimit answers; without one (chunked), the parser finds out
	// while reading.
	for _, chunked := range []bool{false, true} {
		wrap := func(s string) io.Reader {
			if chunked {
				return hideLength{strings.NewReader(s)}
			}
			return strings.NewReader(s)
		}
		resp := post(t, srv.URL, wrap(fits))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("chunked %v: a body of exactly the limit: %d", chunked, resp.StatusCode)
		}
		wantResponseError(t, post(t, srv.URL, wrap(over)), http.StatusRequestEntityTooLarge, "payload_too_large")
		// Over the limit inside a value the parser has not finished: still 413, not 400.
		wantResponseError(t, post(t, srv.URL, wrap(`{"data": {"a": [`+strings.Repeat("1,", limit))),
			http.StatusRequestEntityTooLarge, "payload_too_large")
	}
	if n := reached.Load(); n != 2 {
		t.Fatalf("the handler ran %d times, want 2", n)
	}
}
