package testinstance

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"

	"github.com/sseapi/sse-api/internal/config"
)

func TestRenderRule(t *testing.T) {
	const tmpl = "A: {{A}}\nB: {{B=2}}\nC: \"{{C=}}\"\n{{Extra=}}\n"
	for _, tc := range []struct {
		name   string
		values map[string]string
		want   string
		err    string
	}{
		{"defaults", map[string]string{"A": "1"}, "A: 1\nB: 2\nC: \"\"\n\n", ""},
		{"given", map[string]string{"A": "1", "B": "x y", "C": "c", "Extra": "D:\n  E: 1"}, "A: 1\nB: x y\nC: \"c\"\nD:\n  E: 1\n", ""},
		{"missing", map[string]string{"B": "1"}, "", "no value for A"},
		{"unknown", map[string]string{"A": "1", "Z": "1", "Y": "2"}, "", "no placeholder Y, Z"},
		{"lines in a line", map[string]string{"A": "1\nInjected: true"}, "", "spans lines"},
		{"carriage return", map[string]string{"A": "1\rInjected: true"}, "", "spans lines"},
	} {
		got, err := Render(tmpl, tc.values)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func load(t *testing.T, c Config) config.Config {
	t.Helper()
	text, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	var out config.Config
	if err := conf.LoadFromYamlBytes([]byte(text), &out); err != nil {
		t.Fatalf("%v in\n%s", err, text)
	}
	return out
}

func TestEveryFieldHasItsPlaceholder(t *testing.T) {
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		has := strings.Contains(Template, "{{"+f.Name+"}}") || strings.Contains(Template, "{{"+f.Name+"=")
		if has == (f.Tag.Get("template") == "-") {
			t.Errorf("field %s: placeholder in the template %v, tag %q", f.Name, has, f.Tag)
		}
	}
}

func TestConfigReachesTheService(t *testing.T) {
	got := load(t, Config{
		Name: "sse-api-x", Port: 1001, DevPort: 1002, Secret: "secret-0123456789", Timeout: 300, MaxConns: 20000,
		LogLevel: "error", ShutdownWait: "30s", RedisAddr: "127.0.0.1:7000",
		TicketTTL: "1s", ResumeTTL: "4s", ResumeCookiePath: "/sse/v1/events",
		Heartbeat: "50ms", Retry: "100ms", MaxPayload: 1024, HistorySize: 3, QueueSize: 7,
		PublicTopics: `["public:*"]`, MaxStreams: 11, MaxStreamsPerUser: 2, MaxTopicsPerStream: 3, AnonymousPerMinute: 4,
		QRTTL: "1s", QRConfirmWindow: "2s", QRRetention: "1m", QRContent: "http://h/phone.html?id={id}&key={key}",
		QRBasePath: "/sse/v1/qr/sessions", QRCreatePerMinute: 5, QRMissesPerMinute: 6, QRScansPerMinute: 7,
		QRAutoExchange: true, QRExpirySweep: "3s",
		Extra: "TrustedProxies: [127.0.0.1]\nCorsOrigins: [https://app.example.com]",
	})
	want := []struct {
		what      string
		got, want any
	}{
		{"Name", got.Name, "sse-api-x"}, {"Port", got.Port, 1001}, {"DevServer.Port", got.DevServer.Port, 1002},
		{"DevServer.Host", got.DevServer.Host, "127.0.0.1"}, {"Host", got.Host, "127.0.0.1"},
		{"Timeout", got.Timeout, int64(300)}, {"MaxConns", got.MaxConns, 20000}, {"Log.Level", got.Log.Level, "error"},
		{"Shutdown.WaitTime", got.Shutdown.WaitTime, 30 * time.Second},
		{"AccessSecret", got.Auth.AccessSecret, "secret-0123456789"}, {"TicketTTL", got.Auth.TicketTTL, time.Second},
		{"ResumeTTL", got.Auth.ResumeTTL, 4 * time.Second}, {"ResumeCookiePath", got.Auth.ResumeCookiePath, "/sse/v1/events"},
		{"Redis.Addr", got.Redis.Addr, "127.0.0.1:7000"}, {"Redis.Addrs", len(got.Redis.Addrs), 0},
		{"Heartbeat", got.Stream.Heartbeat, 50 * time.Millisecond}, {"Retry", got.Stream.Retry, 100 * time.Millisecond},
		{"MaxPayload", got.Stream.MaxPayload, int64(1024)}, {"HistorySize", got.Stream.HistorySize, int64(3)},
		{"QueueSize", got.Stream.QueueSize, 7}, {"Topics.Public", got.Topics.Public, []string{"public:*"}},
		{"Limits", got.Limits, config.LimitsConf{MaxStreams: 11, MaxStreamsPerUser: 2, MaxTopicsPerStream: 3, AnonymousPerMinute: 4}},
		{"QRLogin", got.QRLogin, config.QRLoginConf{TTL: time.Second, ConfirmWindow: 2 * time.Second, Retention: time.Minute,
			Content: "http://h/phone.html?id={id}&key={key}", BasePath: "/sse/v1/qr/sessions", CreatePerMinute: 5, MissesPerMinute: 6,
			ScansPerMinute: 7, AutoExchange: true, ExpirySweep: 3 * time.Second}},
		{"TrustedProxies", got.TrustedProxies, []string{"127.0.0.1"}}, {"CorsOrigins", got.CorsOrigins, []string{"https://app.example.com"}},
	}
	for _, w := range want {
		if !reflect.DeepEqual(w.got, w.want) {
			t.Errorf("%s = %v, want %v", w.what, w.got, w.want)
		}
	}

	cluster := load(t, Config{Port: 1, DevPort: 2, Secret: "secret-0123456789", RedisAddrs: "127.0.0.1:1, 127.0.0.1:2"})
	if cluster.Redis.Addr != "" || !reflect.DeepEqual(cluster.Redis.Addrs, []string{"127.0.0.1:1", "127.0.0.1:2"}) {
		t.Errorf("Redis = %+v, want the two Cluster nodes only", cluster.Redis)
	}
	if text, _ := (Config{Port: 1, DevPort: 2, Secret: "s", Verbose: true}).Render(); !strings.Contains(text, "\nVerbose: true\n") {
		t.Errorf("Verbose not set:\n%s", text)
	}
	if _, err := (Config{Port: 1, DevPort: 2, Secret: "s", Embedded: true, RedisAddr: "127.0.0.1:1"}).Render(); err == nil {
		t.Error("Embedded with RedisAddr rendered")
	}
}

// What a caller leaves unset is what the service does by itself: the load tool measures the
// service as shipped except for what it sets.
func TestDefaultsAreTheService(t *testing.T) {
	got := load(t, Config{Port: 1, DevPort: 2, Secret: "secret-0123456789"})
	var want config.Config
	minimal := "Name: sse-api-test\nHost: 127.0.0.1\nPort: 1\nMiddlewares:\n  Log: false\nAuth:\n  AccessSecret: secret-0123456789\n"
	if err := conf.LoadFromYamlBytes([]byte(minimal), &want); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"Timeout", got.Timeout, want.Timeout}, {"MaxConns", got.MaxConns, want.MaxConns}, {"Verbose", got.Verbose, want.Verbose},
		{"Auth", got.Auth, want.Auth}, {"Redis", got.Redis.Embedded(), want.Redis.Embedded()}, {"Stream", got.Stream, want.Stream},
		{"Topics", len(got.Topics.Public), len(want.Topics.Public)}, {"Limits", got.Limits, want.Limits}, {"QRLogin", got.QRLogin, want.QRLogin},
		{"Log.Level", got.Log.Level, want.Log.Level},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %+v, the service's default is %+v", c.what, c.got, c.want)
		}
	}
}
