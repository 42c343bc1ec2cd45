package svc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sseapi/sse-api/internal/config"
	"github.com/sseapi/sse-api/internal/redistest"
)

// With Telemetry on, the Redis commands the service sends are spans too.
func TestRedisCommandsAreTracedWhenTelemetryIsOn(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	var c config.Config
	yaml := "Name: t\nHost: 127.0.0.1\nPort: 1\nMiddlewares:\n  Log: false\n" +
		"Auth:\n  AccessSecret: test-secret-0123456789\nRedis:\n  Addr: " + redistest.Addr(t) + "\n" +
		"Telemetry:\n  Name: t\n  Endpoint: unused\n  Batcher: file\n"
	if err := conf.LoadFromYamlBytes([]byte(yaml), &c); err != nil {
		t.Fatal(err)
	}
	s, err := NewServiceContext(c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A command on the shared client, as the readiness probe sends (Ready itself also waits
	// for the pub/sub link, which may still be connecting here).
	if err := s.Redis.Client.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	for _, sp := range spans.GetSpans() {
		if sp.Name == "ping" {
			return
		}
	}
	t.Fatalf("no span for the PING among %d spans", len(spans.GetSpans()))
}

// Readiness includes the key watch's link to the keyspace notifications: the instance is
// not ready while the link is down, whether Redis is down (killed, then restarted) or
// answers but refuses the link's subscriptions.
func TestReadyFollowsTheKeyWatchLink(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{Args: []string{"--notify-keyspace-events", "KEA"}})
	var c config.Config
	yaml := "Name: t\nHost: 127.0.0.1\nPort: 1\nMiddlewares:\n  Log: false\n" +
		"Auth:\n  AccessSecret: test-secret-0123456789\nRedis:\n  Addr: " + srv.Addr() + "\n" +
		"Watch:\n  Keys:\n    - Pattern: 'k:*'\n      Kind: state\n"
	if err := conf.LoadFromYamlBytes([]byte(yaml), &c); err != nil {
		t.Fatal(err)
	}
	s, err := NewServiceContext(c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ready := func(want bool) error {
		t.Helper()
		var last error
		redistest.WaitFor(t, 15*time.Second, fmt.Sprintf("readiness %v", want), func() error {
			last = s.Ready(ctx)
			if (last == nil) != want {
				return fmt.Errorf("Ready: %v", last)
			}
			return nil
		})
		return last
	}
	ready(true)

	srv.Kill(t)
	ready(false)
	srv.Restart(t)
	ready(true)

	// Redis answers and the hub's link is up, but the user may no longer subscribe to the
	// keyspace channels: Redis 7 drops the watcher's connection and refuses its PSUBSCRIBE.
	admin := srv.Client(t)
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "resetchannels", "&sse:*").Err(); err != nil {
		t.Fatal(err)
	}
	err = ready(false)
	if !strings.Contains(err.Error(), "key watch") || !strings.Contains(err.Error(), srv.Addr()) {
		t.Fatalf("not ready for another reason: %v", err)
	}
	if perr := s.Redis.Client.Ping(ctx).Err(); perr != nil || !s.Hub.LinkUp() {
		t.Fatalf("Redis or the hub's link is down too (ping: %v, hub link up: %v)", perr, s.Hub.LinkUp())
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "allchannels").Err(); err != nil {
		t.Fatal(err)
	}
	ready(true)
}
