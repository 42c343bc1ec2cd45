package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

const demoOn = "Demo:\n  Enabled: true\n  Users: [alice, bob]\n"

func TestDemoMintOffIsAnUnknownRoute(t *testing.T) {
	a := start(t, settings{}) // Demo.Enabled is off by default
	_, unknown := callRaw(t, http.MethodPost, a.Base+"/v1/no/such/route", "", nil)
	for _, tc := range []struct {
		method string
		body   any
	}{
		{http.MethodPost, map[string]string{"user": "alice"}},
		{http.MethodPost, []byte("not JSON")}, // not a 400: nothing parses it
		{http.MethodGet, nil},                 // not a 405: no route has this path
		{http.MethodPut, nil},
	} {
		status, body := callRaw(t, tc.method, a.Base+"/v1/demo/token", "", tc.body)
		if status != http.StatusNotFound || !bytes.Equal(body, unknown) {
			t.Errorf("%s /v1/demo/token with the mint off: %d %s, want 404 %s like an unknown route",
				tc.method, status, body, unknown)
		}
	}
	if strings.Contains(a.Logs.String(), "DEMO TOKEN MINT") {
		t.Errorf("the mint is off but the log says it is on:\n%s", a.Logs)
	}
}

func TestDemoMintOnWithTheEmbeddedRedis(t *testing.T) {
	a := start(t, settings{Embedded: true, Extra: demoOn})
	if !strings.Contains(a.Logs.String(), "DEMO TOKEN MINT ON") {
		t.Fatalf("no warning that the mint is on:\n%s", a.Logs)
	}

	var minted struct {
		Token, UID, ExpiresAt string
		Publish, Subscribe    []string
	}
	if status := callJSON(t, http.MethodPost, a.Base+"/v1/demo/token", "", map[string]string{"user": "alice"}, &minted); status != http.StatusOK {
		t.Fatalf("mint: %d %+v", status, minted)
	}
	if minted.UID != "alice" || minted.Token == "" {
		t.Fatalf("minted %+v", minted)
	}
	if exp, err := time.Parse(time.RFC3339, minted.ExpiresAt); err != nil || time.Until(exp) < 50*time.Minute || time.Until(exp) > 61*time.Minute {
		t.Errorf("expiresAt %q, want about an hour from now (the default TokenTTL)", minted.ExpiresAt)
	}

	// The token works where a demo user may go, and nowhere else.
	for _, tc := range []struct {
		topic string
		want  int
	}{
		{"demo:lobby", http.StatusCreated},
		{"user:alice", http.StatusCreated},
		{"user:bob", http.StatusForbidden},
		{"news:1", http.StatusForbidden},
	} {
		if status, body := callRaw(t, http.MethodPost, a.Base+"/v1/topics/"+tc.topic+"/events", minted.Token,
			map[string]any{"data": 1}); status != tc.want {
			t.Errorf("publish to %s with the demo token: %d %s, want %d", tc.topic, status, body, tc.want)
		}
		wantTicket := http.StatusCreated
		if tc.want != http.StatusCreated {
			wantTicket = http.StatusForbidden
		}
		if status, body := callRaw(t, http.MethodPost, a.Base+"/v1/tickets", minted.Token,
			map[string]any{"topics": []string{tc.topic}}); status != wantTicket {
			t.Errorf("ticket for %s with the demo token: %d %s, want %d", tc.topic, status, body, wantTicket)
		}
	}

	for _, body := range []any{
		map[string]string{"user": "mallory"}, // not a demo user
		map[string]string{"user": ""},
		map[string]any{"user": "alice", "publish": []string{"*"}}, // no asking for more
		[]byte("{"),
	} {
		var e struct{ Code, Message string }
		if status := callJSON(t, http.MethodPost, a.Base+"/v1/demo/token", "", body, &e); status != http.StatusBadRequest || e.Code != "bad_request" {
			t.Errorf("mint with %s: %d %+v, want 400 bad_request", body, status, e)
		}
	}
}

func TestDemoMintRefusesToStartWithARealRedis(t *testing.T) {
	for name, s := range map[string]settings{
		"Addr":  {Extra: demoOn},                                         // the real Redis of the tests
		"Addrs": {RedisAddrs: "127.0.0.1:1, 127.0.0.1:2", Extra: demoOn}, // refused before any connection is tried
	} {
		t.Run(name, func(t *testing.T) {
			a := launch(t, s)
			select {
			case <-a.Done():
			case <-time.After(20 * time.Second):
				t.Fatal("started with the demo mint on and a real Redis")
			}
			logs := a.Logs.String()
			if code := a.ExitCode(); code == 0 || !strings.Contains(logs, "Demo.Enabled is on, but Redis.Addr or Redis.Addrs names a real Redis") {
				t.Fatalf("exit code %d, logs:\n%s", code, logs)
			}
		})
	}
}
