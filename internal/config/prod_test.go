package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"gopkg.in/yaml.v2"
)

// ProdFile is the production config, which the image ships and the Kubernetes ConfigMap holds.
const prodFile = "../../etc/sse-api.prod.yaml"

func loadProd(t *testing.T, text string) (Config, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "sse-api.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var c Config
	return c, conf.Load(file, &c, conf.UseEnv())
}

func readProd(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(prodFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestProductionConfig(t *testing.T) {
	t.Setenv("SSE_ACCESS_SECRET", "a-production-secret-0123456789abcdef")
	t.Setenv("SSE_REDIS_ADDR", "redis.example:6379")
	t.Setenv("SSE_REDIS_PASSWORD", "redis: #password")
	text := readProd(t)
	c, err := loadProd(t, text) // conf.Load runs Validate
	if err != nil {
		t.Fatal(err)
	}
	for _, check := range []struct {
		what string
		ok   bool
	}{
		{"secret from SSE_ACCESS_SECRET", c.Auth.AccessSecret == "a-production-secret-0123456789abcdef"},
		{"Redis from SSE_REDIS_ADDR", c.Redis.Addr == "redis.example:6379" && !c.Redis.Embedded()},
		{"Redis password from SSE_REDIS_PASSWORD, any characters", c.Redis.Password == "redis: #password"},
		{"demo mint off", !c.Demo.Enabled},
		{"go-zero's request log off", !c.Middlewares.Log && !c.Verbose},
		{"MaxConns >= Limits.MaxStreams", c.MaxConns >= c.Limits.MaxStreams},
		{"shedder stated", strings.Contains(text, "\nCpuThreshold: ") && c.CpuThreshold > 0},
		{"JSON logs with the service's name", c.Log.Encoding == "json" && c.Log.ServiceName == "sse-api"},
		{"DevServer on all interfaces", c.DevServer.Enabled && c.DevServer.Host == "0.0.0.0" && c.DevServer.Port > 0},
		{"drain ends a second before the kill", c.Stream.DrainWindow > 0 && c.Stream.DrainWindow+time.Second < c.Shutdown.WaitTime},
		{"secure cookies", c.Auth.SecureCookies},
		{"no telemetry unless asked", c.Telemetry.Endpoint == ""},
	} {
		if !check.ok {
			t.Errorf("%s: no (%+v)", check.what, c)
		}
	}
	if err := keysRead(text); err != nil {
		t.Error(err)
	}

	// Without its secret the service does not start.
	os.Unsetenv("SSE_ACCESS_SECRET")
	if _, err := loadProd(t, text); err == nil || !strings.Contains(err.Error(), "Auth.AccessSecret") {
		t.Errorf("loaded without SSE_ACCESS_SECRET: %v", err)
	}
	// Nor with the development one.
	t.Setenv("SSE_ACCESS_SECRET", DevAccessSecret)
	if _, err := loadProd(t, text); err == nil || !strings.Contains(err.Error(), "SSE_ACCESS_SECRET") {
		t.Errorf("loaded with the development secret: %v", err)
	}
}

// The commented Telemetry block is a working example: uncommented, it loads.
func TestProductionConfigTelemetryExample(t *testing.T) {
	t.Setenv("SSE_ACCESS_SECRET", "a-production-secret-0123456789abcdef")
	t.Setenv("SSE_REDIS_ADDR", "redis.example:6379")
	lines := strings.Split(readProd(t), "\n")
	start := slices.Index(lines, "# Telemetry:")
	if start < 0 {
		t.Fatal(`no "# Telemetry:" line`)
	}
	end := start + 1
	for end < len(lines) && strings.HasPrefix(lines[end], "#   ") {
		end++
	}
	if end-start < 3 {
		t.Fatalf("the Telemetry example has %d lines", end-start)
	}
	for i := start; i < end; i++ {
		lines[i] = strings.TrimPrefix(lines[i], "# ")
	}
	text := strings.Join(lines, "\n")
	c, err := loadProd(t, text)
	if err != nil {
		t.Fatal(err)
	}
	if c.Telemetry.Name != "sse-api" || c.Telemetry.Endpoint == "" || c.Telemetry.Batcher != "otlpgrpc" || c.Telemetry.Sampler <= 0 {
		t.Errorf("Telemetry = %+v", c.Telemetry)
	}
	if err := keysRead(text); err != nil {
		t.Error(err)
	}
}

func TestKeysReadRefusesWhatTheServiceIgnores(t *testing.T) {
	for _, text := range []string{
		"Port: 1\nMaxConn: 5\n",              // a typo
		"Stream:\n  DrainWindows: 1s\n",      // a typo in a block
		"Log:\n  Encoding: json\n  Foo: 1\n", // in go-zero's part
		"Redis:\n  TLS:\n    Enable: true\n",
	} {
		if err := keysRead(text); err == nil {
			t.Errorf("accepted %q", text)
		}
	}
	if err := keysRead("Port: 1\nLog:\n  Level: info\nRedis:\n  TLS:\n    Enabled: true\nTelemetry:\n  OtlpHeaders:\n    any: x\n"); err != nil {
		t.Error(err)
	}
}

// keysRead fails on any key of the YAML text that Config has no field for: go-zero ignores
// them, so a misspelt key would silently keep its default.
func keysRead(text string) error {
	var doc map[any]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return err
	}
	return walkKeys("", doc, reflect.TypeFor[Config]())
}

func walkKeys(path string, v any, t reflect.Type) error {
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeFor[time.Duration]() {
			return nil
		}
		m, ok := v.(map[any]any)
		if !ok {
			return fmt.Errorf("%s: want a block of keys, have %v", path, v)
		}
		for k, sub := range m {
			key := fmt.Sprint(k)
			f, ok := fieldOf(t, key)
			if !ok {
				return fmt.Errorf("%s%s: the service has no such setting", path, key)
			}
			if err := walkKeys(path+key+".", sub, f.Type); err != nil {
				return err
			}
		}
	case reflect.Slice:
		items, _ := v.([]any)
		for i, item := range items {
			if err := walkKeys(fmt.Sprintf("%s%d.", path, i), item, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldOf finds the field that key sets, as go-zero names it: its json tag's name, or else
// its own name, embedded structs' fields included.
func fieldOf(t reflect.Type, key string) (reflect.StructField, bool) {
	for _, f := range reflect.VisibleFields(t) {
		if f.Anonymous || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func TestDevelopmentConfigKeysAreRead(t *testing.T) {
	raw, err := os.ReadFile("../../etc/sse-api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := keysRead(string(raw)); err != nil {
		t.Error(err)
	}
}
