package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
)

// valid is the smallest configuration Validate accepts.
func valid() Config {
	var c Config
	c.Auth.AccessSecret = "12345678"
	c.Stream.HistorySize = 1
	c.Stream.MaxPayload = 1
	c.Stream.QueueSize = 1
	c.Stream.MaxBatch = 1
	c.Stream.MaxHistoryPage = 1
	return c
}

func TestValidateAcceptsWhatWorks(t *testing.T) {
	cases := map[string]func(*Config){
		"the minimum":                func(*Config) {},
		"CORS origins listed":        func(c *Config) { c.CorsOrigins = []string{"https://a.example", "http://localhost:3000"} },
		"QR content, {id} and {key}": func(c *Config) { c.QRLogin.Content = "https://app.example/qr/{key}?id={id}" },
		"demo on the embedded Redis": func(c *Config) { c.Demo = DemoConf{Enabled: true, TokenTTL: time.Minute} },
		"demo users":                 func(c *Config) { c.Demo = DemoConf{Enabled: true, Users: []string{"a.b-c_9"}, TokenTTL: time.Minute} },
		"demo off with a real Redis": func(c *Config) { c.Redis.Addr = "127.0.0.1:6379"; c.Demo.TokenTTL = 0 },
		"dev secret, embedded Redis": func(c *Config) { c.Auth.AccessSecret = DevAccessSecret },
		"Middlewares.MaxBytes on":    func(c *Config) { c.Middlewares.MaxBytes = true },
		"drain 4s, default wait":     func(c *Config) { c.Stream.DrainWindow = 4 * time.Second },
		"presence, 1s lease":         func(c *Config) { c.Presence = PresenceConf{Enabled: true, Lease: time.Second} },
		"revocations outlast tokens": func(c *Config) { c.Auth.MaxTokenTTL = time.Hour; c.Revoke.TTL = time.Hour },
		"drain 8s, wait 10s": func(c *Config) {
			c.Stream.DrainWindow = 8 * time.Second
			c.Shutdown.WaitTime = 10 * time.Second
		},
	}
	for name, edit := range cases {
		c := valid()
		edit(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string // in the message: what to change
	}{
		{"no secret", func(c *Config) { c.Auth.AccessSecret = "" }, "Auth.AccessSecret"},
		{"a 7-character secret", func(c *Config) { c.Auth.AccessSecret = "1234567" }, "Auth.AccessSecret"},
		{"dev secret with Redis.Addr", func(c *Config) {
			c.Auth.AccessSecret = DevAccessSecret
			c.Redis.Addr = "10.0.0.1:6379"
		}, "SSE_ACCESS_SECRET"},
		{"dev secret with Redis.Addrs", func(c *Config) {
			c.Auth.AccessSecret = DevAccessSecret
			c.Redis.Addrs = []string{"10.0.0.1:7000", "10.0.0.2:7000"}
		}, "SSE_ACCESS_SECRET"},
		{"Verbose", func(c *Config) { c.Verbose = true }, "Verbose"},
		{"go-zero's request log", func(c *Config) { c.Middlewares.Log = true }, "Middlewares.Log"},
		{"CORS *", func(c *Config) { c.CorsOrigins = []string{"*"} }, "CorsOrigins"},
		{"CORS * among origins", func(c *Config) { c.CorsOrigins = []string{"https://a.example", "*"} }, "CorsOrigins"},
		{"QR content without {id}", func(c *Config) { c.QRLogin.Content = "https://app.example/qr?key={key}" }, "QRLogin.Content"},
		{"QR content with {ID}", func(c *Config) { c.QRLogin.Content = "https://app.example/qr?id={ID}&key={key}" }, "QRLogin.Content"},
		{"QR content without {key}", func(c *Config) { c.QRLogin.Content = "https://app.example/qr?id={id}" }, "{key}"},
		{"demo with Redis.Addr", func(c *Config) {
			c.Demo = DemoConf{Enabled: true, TokenTTL: time.Minute}
			c.Redis.Addr = "10.0.0.1:6379"
		}, "Demo.Enabled"},
		{"demo with Redis.Addrs", func(c *Config) {
			c.Demo = DemoConf{Enabled: true, TokenTTL: time.Minute}
			c.Redis.Addrs = []string{"10.0.0.1:26379"}
			c.Redis.MasterName = "mymaster"
		}, "Demo.Enabled"},
		{"demo user with a space", func(c *Config) {
			c.Demo = DemoConf{Enabled: true, Users: []string{"alice", "bob smith"}, TokenTTL: time.Minute}
		}, "Demo.Users"},
		{"demo user too long", func(c *Config) {
			c.Demo = DemoConf{Enabled: true, Users: []string{strings.Repeat("a", 65)}, TokenTTL: time.Minute}
		}, "Demo.Users"},
		{"demo token TTL 0", func(c *Config) { c.Demo = DemoConf{Enabled: true} }, "Demo.TokenTTL"},
		{"demo token TTL negative", func(c *Config) { c.Demo = DemoConf{Enabled: true, TokenTTL: -time.Second} }, "Demo.TokenTTL"},
		// go-zero kills the process at Shutdown.WaitTime (5.5s when unset).
		{"drain window past the default wait", func(c *Config) { c.Stream.DrainWindow = 5 * time.Second }, "Stream.DrainWindow"},
		{"drain window and a second past it", func(c *Config) { c.Stream.DrainWindow = 4500 * time.Millisecond }, "Stream.DrainWindow"},
		{"drain window past the wait", func(c *Config) {
			c.Stream.DrainWindow = 9 * time.Second
			c.Shutdown.WaitTime = 10 * time.Second
		}, "Shutdown.WaitTime"},
		{"HistorySize 0", func(c *Config) { c.Stream.HistorySize = 0 }, "Stream.HistorySize"},
		{"HistorySize negative", func(c *Config) { c.Stream.HistorySize = -1 }, "Stream.HistorySize"},
		{"MaxPayload 0", func(c *Config) { c.Stream.MaxPayload = 0 }, "Stream.MaxPayload"},
		{"MaxPayload negative", func(c *Config) { c.Stream.MaxPayload = -5 }, "Stream.MaxPayload"},
		{"QueueSize 0", func(c *Config) { c.Stream.QueueSize = 0 }, "Stream.QueueSize"},
		{"MaxBatch 0", func(c *Config) { c.Stream.MaxBatch = 0 }, "Stream.MaxBatch"},
		{"MaxHistoryPage 0", func(c *Config) { c.Stream.MaxHistoryPage = 0 }, "Stream.MaxHistoryPage"},
		{"MaxHistoryPage negative", func(c *Config) { c.Stream.MaxHistoryPage = -1 }, "Stream.MaxHistoryPage"},
		{"QueueSize negative", func(c *Config) { c.Stream.QueueSize = -1 }, "Stream.QueueSize"},
		{"presence lease under 1s", func(c *Config) { c.Presence = PresenceConf{Enabled: true, Lease: 900 * time.Millisecond} }, "Presence.Lease"},
		{"revocations end before tokens", func(c *Config) {
			c.Auth.MaxTokenTTL = time.Hour
			c.Revoke.TTL = 59 * time.Minute
		}, "Revoke.TTL"},
		{"revocation cache negative", func(c *Config) { c.Revoke.Cache = -time.Second }, "Revoke.Cache"},
		{"replay window negative", func(c *Config) { c.Revoke.Replay = -time.Second }, "Revoke.Replay"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestRevokeTTLOutlastsTokens(t *testing.T) {
	c := valid()
	if got := c.RevokeTTL(); got != 0 {
		t.Fatalf("no token bound: %v, want 0 (for good)", got)
	}
	c.Auth.MaxTokenTTL = time.Hour
	if got := c.RevokeTTL(); got != time.Hour+time.Minute {
		t.Fatalf("MaxTokenTTL 1h: %v", got)
	}
	c.Revoke.TTL = 2 * time.Hour
	if got := c.RevokeTTL(); got != 2*time.Hour {
		t.Fatalf("Revoke.TTL 2h: %v", got)
	}
}

func TestShippedConfigLoadsAndValidates(t *testing.T) {
	var c Config
	if err := conf.Load("../../etc/sse-api.yaml", &c, conf.UseEnv()); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// What the shipped file promises: development on the embedded Redis, go-zero's request
	// log off, the demo mint on, the QR code pointing at the phone page.
	switch {
	case !c.Redis.Embedded():
		t.Error("the shipped config names a real Redis")
	case c.Middlewares.Log || c.Verbose:
		t.Error("the shipped config turns on go-zero's request log")
	case !c.Demo.Enabled || len(c.Demo.UserNames()) == 0:
		t.Error("the shipped config has no demo mint")
	case c.Port != 8888 || c.Stream.MaxPayload != 65536 || c.Stream.WriteTimeout != 10*time.Second:
		t.Errorf("port %d, MaxPayload %d, WriteTimeout %v", c.Port, c.Stream.MaxPayload, c.Stream.WriteTimeout)
	case c.QRLogin.ContentFor("abc", "k-_1") != "http://localhost:8888/phone.html?id=abc&key=k-_1":
		t.Errorf("QR content %q", c.QRLogin.ContentFor("abc", "k-_1"))
	case c.QRLogin.AutoExchange:
		t.Error("the shipped config exchanges without asking the browser's user")
	case c.Auth.AccessSecret != DevAccessSecret:
		t.Errorf("the shipped secret %q is not DevAccessSecret, which Validate refuses with a real Redis", c.Auth.AccessSecret)
	}
}

func TestDefaultsFillWhatTheFileLeavesOut(t *testing.T) {
	load := func(yaml string) (Config, error) {
		t.Helper()
		file := filepath.Join(t.TempDir(), "sse-api.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		var c Config
		return c, conf.Load(file, &c, conf.UseEnv())
	}
	t.Setenv("SSE_TEST_SECRET", "from-the-environment")
	yaml := "Name: x\nPort: 1\nAuth:\n  AccessSecret: ${SSE_TEST_SECRET}\n"

	// go-zero's own default turns its request log on, so a file must turn it off; loading
	// runs Validate (go-zero calls it), so such a file does not even load.
	if _, err := load(yaml); err == nil || !strings.Contains(err.Error(), "Middlewares.Log") {
		t.Fatalf("a file that leaves go-zero's request log on: %v", err)
	}

	c, err := load(yaml + "Middlewares:\n  Log: false\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.AccessSecret != "from-the-environment" {
		t.Errorf("AccessSecret %q: ${VAR} not read", c.Auth.AccessSecret)
	}
	if c.Auth.TicketTTL != time.Minute || c.Auth.ResumeTTL != 10*time.Minute || c.Stream.QueueSize != 256 ||
		c.Stream.HistorySize != 1000 || c.Stream.MaxPayload != 65536 || c.Limits.MaxTopicsPerStream != 16 ||
		c.Stream.MaxBatch != 1000 || c.Stream.BatchBodyLimit() != 1<<20 || c.Stream.MaxHistoryPage != 1<<20 ||
		c.QRLogin.BasePath != "/v1/qr/sessions" || c.Demo.Enabled || !c.Redis.Embedded() ||
		c.Stream.DrainWindow != 3*time.Second || c.Stream.RefusalRetry != 5*time.Second ||
		c.QRLogin.ScansPerMinute != 10 || c.QRLogin.AutoExchange || c.QRLogin.ExpirySweep != 5*time.Second ||
		c.Revoke.Replay != 5*time.Minute {
		t.Errorf("defaults: %+v %+v %+v %+v %+v", c.Auth, c.Stream, c.Limits, c.QRLogin, c.Revoke)
	}
	if c.QRLogin.ContentFor("abc", "k-_1") != "sseapi://qr-login?id=abc&key=k-_1" {
		t.Errorf("default QR content %q", c.QRLogin.ContentFor("abc", "k-_1"))
	}
	// The expiry sweep cannot be turned off, not even by a config built in code.
	for set, want := range map[time.Duration]time.Duration{0: 5 * time.Second, -time.Second: 5 * time.Second, time.Second: time.Second} {
		if got := (QRLoginConf{ExpirySweep: set}).Sweep(); got != want {
			t.Errorf("Sweep() with ExpirySweep %v = %v, want %v", set, got, want)
		}
	}

	// And a refusal of Validate's stops loading the same way.
	if _, err := load(yaml + "Middlewares:\n  Log: false\nCorsOrigins: [\"*\"]\n"); err == nil || !strings.Contains(err.Error(), "CorsOrigins") {
		t.Fatalf("CorsOrigins * loaded: %v", err)
	}
}
