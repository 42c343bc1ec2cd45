package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/zrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/testinstance"
	"github.com/sseapi/sse-api/rpc/sseapiclient"
)

const (
	rpcKey         = "e2e-rpc-key-0123456789"
	rpcPreviousKey = "e2e-rpc-previous-key-0123456789"
)

// rpcInstance is an instance that also serves zRPC, at RPC.
type rpcInstance struct {
	*instance
	RPC string // host:port
}

// startRPC starts an instance with its zRPC service on, keyed with rpcKey and
// rpcPreviousKey.
func startRPC(t *testing.T, s settings) *rpcInstance {
	t.Helper()
	port, err := testinstance.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.Extra = strings.TrimSpace(s.Extra + fmt.Sprintf("\nRpc:\n  Name: sse-api-e2e-rpc\n  ListenOn: %s\n"+
		"RpcAuth:\n  Key: %s\n  PreviousKey: %s", addr, rpcKey, rpcPreviousKey))
	return &rpcInstance{instance: start(t, s), RPC: addr}
}

// rpcClient is a go-zero client of the instance's zRPC service, as another service would
// make it from its config: the key in Token (empty: none).
func rpcClient(t *testing.T, addr, key string) (sseapiclient.SseApi, zrpc.Client) {
	t.Helper()
	var c zrpc.RpcClientConf
	if err := conf.FillDefault(&c); err != nil {
		t.Fatal(err)
	}
	c.Endpoints = []string{addr}
	c.Timeout = 10000
	if key != "" {
		c.App, c.Token = "e2e", key
	}
	cli, err := zrpc.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Conn().Close() })
	return sseapiclient.NewSseApi(cli), cli
}

func rpcContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails the test unless err is a gRPC status with code want.
func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := grpcstatus.Code(err); got != want {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

func TestRpcPublishReachesSubscribers(t *testing.T) {
	a := startRPC(t, settings{})
	b := start(t, settings{}) // the subscriber is on another instance
	api, _ := rpcClient(t, a.RPC, rpcKey)
	topic := redistest.Name("news:")
	s := mustOpen(t, b.Base+"/v1/events?topic="+topic, bearer(token(t, "alice", nil, []string{"news:*"})))
	s.waitPosition(t)

	resp, err := api.Publish(rpcContext(t), &sseapiclient.PublishReq{
		Topic: topic, Event: "order", Data: []byte(`{"z": 1, "a": "x<y"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := s.next(t)
	if ev.ID != resp.Id || ev.Type != "order" || ev.Data != `{"z":1,"a":"x<y"}` {
		t.Fatalf("event = %+v, want id %s, the event name and the data compacted", ev, resp.Id)
	}
	// No event name: "message", as over HTTP.
	resp, err = api.Publish(rpcContext(t), &sseapiclient.PublishReq{Topic: topic, Data: []byte(`"hi"`)})
	if err != nil {
		t.Fatal(err)
	}
	if ev := s.next(t); ev.ID != resp.Id || ev.Type != "message" || ev.Data != `"hi"` {
		t.Fatalf("event = %+v, want a message with id %s", ev, resp.Id)
	}
}

func TestRpcNeedsTheKey(t *testing.T) {
	a := startRPC(t, settings{})
	topic := redistest.Name("news:")
	publish := func(api sseapiclient.SseApi, ctx context.Context) error {
		_, err := api.Publish(ctx, &sseapiclient.PublishReq{Topic: topic, Data: []byte(`1`)})
		return err
	}
	none, cli := rpcClient(t, a.RPC, "")
	wantCode(t, "no key", publish(none, rpcContext(t)), codes.Unauthenticated)
	wrong, _ := rpcClient(t, a.RPC, rpcKey+"x")
	wantCode(t, "a wrong key", publish(wrong, rpcContext(t)), codes.Unauthenticated)
	wantCode(t, "a wrong bearer key", publish(none, metadata.AppendToOutgoingContext(rpcContext(t),
		"authorization", "Bearer "+rpcKey[:len(rpcKey)-1])), codes.Unauthenticated)
	wantCode(t, "the key without its scheme", publish(none, metadata.AppendToOutgoingContext(rpcContext(t),
		"authorization", rpcKey)), codes.Unauthenticated)

	current, _ := rpcClient(t, a.RPC, rpcKey)
	previous, _ := rpcClient(t, a.RPC, rpcPreviousKey)
	for what, err := range map[string]error{
		"go-zero's Token":    publish(current, rpcContext(t)),
		"the previous key":   publish(previous, rpcContext(t)),
		"authorization":      publish(none, metadata.AppendToOutgoingContext(rpcContext(t), "authorization", "Bearer "+rpcKey)),
		"x-api-key":          publish(none, metadata.AppendToOutgoingContext(rpcContext(t), "x-api-key", rpcKey)),
		"x-api-key previous": publish(none, metadata.AppendToOutgoingContext(rpcContext(t), "x-api-key", rpcPreviousKey)),
	} {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	// The health check needs no key.
	health, err := grpc_health_v1.NewHealthClient(cli.Conn()).Check(rpcContext(t), &grpc_health_v1.HealthCheckRequest{})
	if err != nil || health.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Errorf("health check without a key: %v %v", health, err)
	}
	if strings.Contains(a.Logs.String(), rpcKey) {
		t.Errorf("the key is in the logs:\n%s", a.Logs)
	}
}

func TestRpcPublishRefusesWhatHttpRefuses(t *testing.T) {
	a := startRPC(t, settings{MaxPayload: 1024})
	api, _ := rpcClient(t, a.RPC, rpcKey)
	topic := redistest.Name("news:")
	for _, c := range []struct {
		what string
		req  *sseapiclient.PublishReq
		want codes.Code
	}{
		{"a malformed topic", &sseapiclient.PublishReq{Topic: "news 1", Data: []byte(`1`)}, codes.InvalidArgument},
		{"no topic", &sseapiclient.PublishReq{Data: []byte(`1`)}, codes.InvalidArgument},
		{"a malformed event name", &sseapiclient.PublishReq{Topic: topic, Event: "a b", Data: []byte(`1`)}, codes.InvalidArgument},
		{"the service's own event name", &sseapiclient.PublishReq{Topic: topic, Event: "reset", Data: []byte(`1`)}, codes.InvalidArgument},
		{"no data", &sseapiclient.PublishReq{Topic: topic}, codes.InvalidArgument},
		{"data that is not JSON", &sseapiclient.PublishReq{Topic: topic, Data: []byte(`{"a":`)}, codes.InvalidArgument},
		{"two JSON values", &sseapiclient.PublishReq{Topic: topic, Data: []byte(`1 2`)}, codes.InvalidArgument},
		{"a QR session's topic", &sseapiclient.PublishReq{Topic: "qr:abc", Data: []byte(`1`)}, codes.PermissionDenied},
		{"a watched key's topic", &sseapiclient.PublishReq{Topic: "key:abc", Data: []byte(`1`)}, codes.PermissionDenied},
		{"data over Stream.MaxPayload", &sseapiclient.PublishReq{Topic: topic, Data: []byte(`"` + strings.Repeat("x", 2000) + `"`)}, codes.ResourceExhausted},
	} {
		_, err := api.Publish(rpcContext(t), c.req)
		wantCode(t, c.what, err, c.want)
	}
}

func TestRpcStopsWithTheService(t *testing.T) {
	a := startRPC(t, settings{})
	api, _ := rpcClient(t, a.RPC, rpcKey)
	if _, err := api.Publish(rpcContext(t), &sseapiclient.PublishReq{Topic: redistest.Name("news:"), Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	a.signal(syscall.SIGTERM)
	select {
	case <-a.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the process did not exit after SIGTERM")
	}
	if a.ExitCode() != 0 {
		t.Errorf("exit code %d:\n%s", a.ExitCode(), a.Logs)
	}
	if c, err := net.Dial("tcp", a.RPC); err == nil {
		c.Close()
		t.Error("the zRPC port still accepts connections after the exit")
	}
}
