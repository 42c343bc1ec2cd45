package svc

import (
	"context"
	"testing"

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
