package demo

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/config"
	"github.com/sseapi/sse-api/internal/redisconn"
)

const secret = "demo-test-secret-0123456789"

func TestMintGivesModestRights(t *testing.T) {
	tokens := auth.NewTokens(secret)
	m := NewMinter(tokens, config.DemoConf{Users: []string{"alice", "bob"}, TokenTTL: time.Hour})
	now := time.Now()
	m.now = func() time.Time { return now }

	resp, err := m.Mint("alice")
	if err != nil {
		t.Fatal(err)
	}
	id, err := tokens.Identity(resp.Token)
	if err != nil {
		t.Fatalf("the service refuses the minted token: %v", err)
	}
	if id.UID != "alice" || resp.UID != "alice" {
		t.Errorf("uid %q (answer says %q), want alice", id.UID, resp.UID)
	}
	if d := id.Expires.Sub(now); d < time.Hour-time.Second || d > time.Hour {
		t.Errorf("token expires %v after minting, want TokenTTL (1h)", d)
	}
	if resp.ExpiresAt != now.Add(time.Hour).UTC().Format(time.RFC3339) {
		t.Errorf("expiresAt %q", resp.ExpiresAt)
	}
	for topic, want := range map[string]bool{
		"demo:lobby": true,
		"demo:x.y-z": true,
		"user:alice": true,
		"user:bob":   false,
		"news:1":     false,
		"qr:abc":     false,
		"demo":       false,
	} {
		if got := id.CanPublish(topic); got != want {
			t.Errorf("CanPublish(%q) = %v, want %v", topic, got, want)
		}
		if got := id.CanSubscribe(topic, nil); got != want {
			t.Errorf("CanSubscribe(%q) = %v, want %v", topic, got, want)
		}
	}
	// The demo keys are read, never published to (nobody publishes to a key's topic).
	if !id.CanSubscribe("key:demo:status", nil) || id.CanSubscribe("key:qrcode:1", nil) {
		t.Errorf("demo keys: subscribe claims %v", id.Subscribe)
	}
}

func TestMintRefusesOtherUsers(t *testing.T) {
	m := NewMinter(auth.NewTokens(secret), config.DemoConf{TokenTTL: time.Hour}) // default users
	if _, err := m.Mint(config.DefaultDemoUsers[0]); err != nil {
		t.Errorf("default user %q: %v", config.DefaultDemoUsers[0], err)
	}
	for _, user := range []string{"", "mallory", "Alice", "alice "} {
		_, err := m.Mint(user)
		var e *apierr.Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
			t.Errorf("Mint(%q) = %v, want a 400", user, err)
		}
	}
}

func TestHandlerAnswersJSON(t *testing.T) {
	httpx.SetErrorHandlerCtx(apierr.Handle) // as the service does at start
	h := NewMinter(auth.NewTokens(secret), config.DemoConf{Users: []string{"bob"}, TokenTTL: time.Minute}).Handler
	for body, want := range map[string]int{
		`{"user": "bob"}`:                     http.StatusOK,
		`{"user": "eve"}`:                     http.StatusBadRequest,
		`{"user": "bob", "subscribe": ["*"]}`: http.StatusBadRequest,
		`not JSON`:                            http.StatusBadRequest,
		``:                                    http.StatusBadRequest,
	} {
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body)))
		if rec.Code != want || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("body %q: %d %s %s, want %d JSON", body, rec.Code, rec.Header().Get("Content-Type"), rec.Body, want)
		}
	}
}

func valid() config.Config {
	var c config.Config
	c.Auth.AccessSecret = secret
	c.Stream.HistorySize, c.Stream.MaxPayload, c.Stream.QueueSize, c.Stream.MaxBatch, c.Stream.MaxHistoryPage = 1, 1, 1, 1, 1
	c.Demo = config.DemoConf{Enabled: true, TokenTTL: time.Hour}
	return c
}

func TestConfigAllowsTheMintWithTheEmbeddedRedisOnly(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("demo on with the embedded Redis: %v", err)
	}
	for name, redis := range map[string]redisconn.Conf{
		"Addr":             {Addr: "127.0.0.1:6379"},
		"Addrs (Cluster)":  {Addrs: []string{"127.0.0.1:7001", "127.0.0.1:7002"}},
		"Addrs (Sentinel)": {Addrs: []string{"127.0.0.1:26379"}, MasterName: "mymaster"},
	} {
		c := valid()
		c.Redis = redis
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "Demo.Enabled") {
			t.Errorf("demo on with %s: %v, want a refusal that names Demo.Enabled", name, err)
		}
		c.Demo.Enabled = false
		if err := c.Validate(); err != nil {
			t.Errorf("demo off with %s: %v", name, err)
		}
	}
	for _, users := range [][]string{{"ok", "has space"}, {""}, {"user:alice"}} {
		c := valid()
		c.Demo.Users = users
		if err := c.Validate(); err == nil {
			t.Errorf("Demo.Users %q accepted", users)
		}
	}
}

func TestDemoIsOffByDefaultAndOnInTheShippedConfig(t *testing.T) {
	var zero config.Config
	if err := conf.LoadFromYamlBytes([]byte("Name: x\nHost: 127.0.0.1\nPort: 1\nMiddlewares:\n  Log: false\nAuth:\n  AccessSecret: "+secret+"\n"), &zero); err != nil {
		t.Fatal(err)
	}
	if zero.Demo.Enabled {
		t.Error("Demo.Enabled is on in a config that does not mention it")
	}

	_, here, _, _ := runtime.Caller(0)
	var shipped config.Config
	conf.MustLoad(filepath.Join(filepath.Dir(here), "..", "..", "etc", "sse-api.yaml"), &shipped)
	if !shipped.Demo.Enabled || !shipped.Redis.Embedded() {
		t.Errorf("shipped config: Demo.Enabled %v with embedded Redis %v; want both, so `go run .` has working pages",
			shipped.Demo.Enabled, shipped.Redis.Embedded())
	}
	if err := shipped.Validate(); err != nil {
		t.Errorf("shipped config: %v", err)
	}
	if got := shipped.QRLogin.ContentFor("ID", "KEY"); !strings.HasSuffix(got, "/phone.html?id=ID&key=KEY") {
		t.Errorf("shipped QR content %q does not open the phone simulator", got)
	}
}
