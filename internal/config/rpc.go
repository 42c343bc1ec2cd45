package config

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/service"
	"github.com/zeromicro/go-zero/zrpc"
)

// RpcAuthConf is the shared key that callers of the zRPC service present (internal/rpc).
type RpcAuthConf struct {
	// Key is required with Rpc.ListenOn, at least MinRpcKeyLen characters; read it from
	// the environment (${SSE_RPC_KEY}).
	Key string `json:",optional"`
	// PreviousKey is also accepted while callers move to a new Key; empty when not
	// rotating.
	PreviousKey string `json:",optional"`
}

// MinRpcKeyLen is the shortest RpcAuth.Key accepted.
const MinRpcKeyLen = 16

// RpcOn reports whether the zRPC service is configured: Rpc.ListenOn is set.
func (c Config) RpcOn() bool { return c.Rpc.ListenOn != "" }

// validateRpc checks the Rpc and RpcAuth blocks. The Rpc block is go-zero's
// zrpc.RpcServerConf, which embeds a whole service.ServiceConf (Log, Mode, Telemetry,
// DevServer, Shutdown, ...); in this process those are set once, at the top level, so a
// value there other than go-zero's default is refused rather than ignored.
func (c Config) validateRpc() error {
	if !c.RpcOn() {
		return nil
	}
	if key := firstProcessKey(c.Rpc.ServiceConf); key != "" {
		return fmt.Errorf("Rpc.%s is set, but the zRPC server runs inside the service's process, whose %s is "+
			"the top-level one: set %s at the top level and remove it from the Rpc block (which takes Name, "+
			"ListenOn, Timeout, CpuThreshold, Health, Middlewares, MethodTimeouts and Etcd)", key, key, key)
	}
	if c.Rpc.Auth {
		return errors.New("Rpc.Auth turns on go-zero's own RPC auth (per-app tokens in a Redis hash, which " +
			"lets calls through when that hash cannot be read), but sse-api checks the shared key RpcAuth.Key " +
			"on every call: remove Rpc.Auth")
	}
	if c.Rpc.Timeout <= 0 {
		return errors.New("Rpc.Timeout must be positive (milliseconds): every call is bounded in time")
	}
	if len(c.RpcAuth.Key) < MinRpcKeyLen {
		return fmt.Errorf("RpcAuth.Key must have at least %d characters when Rpc.ListenOn is set: every "+
			"call presents it (put it in the environment and write RpcAuth.Key: ${SSE_RPC_KEY})", MinRpcKeyLen)
	}
	if p := c.RpcAuth.PreviousKey; p != "" && (len(p) < MinRpcKeyLen || p == c.RpcAuth.Key) {
		return fmt.Errorf("RpcAuth.PreviousKey must have at least %d characters and differ from RpcAuth.Key "+
			"(leave it empty when not rotating keys)", MinRpcKeyLen)
	}
	// A history page holds up to MaxHistoryPage bytes, or one event alone if larger.
	if page := max(c.Stream.MaxHistoryPage, c.Stream.MaxPayload); page > MaxRpcHistoryPage {
		return fmt.Errorf("Stream.MaxHistoryPage and Stream.MaxPayload (%d bytes) allow zRPC History pages "+
			"larger than gRPC clients receive by default (4 MiB): set both to at most %d with Rpc.ListenOn set",
			page, MaxRpcHistoryPage)
	}
	return nil
}

// MaxRpcHistoryPage is the largest history page zRPC serves: gRPC clients refuse a message
// over 4 MiB unless told otherwise, and a page of 1,000 events adds up to ~20 KiB of ids'
// and fields' framing to the bytes MaxHistoryPage counts.
const MaxRpcHistoryPage = 4<<20 - 64<<10

// defaultRpcServiceConf is the ServiceConf of an Rpc block that sets only Name and ListenOn.
var defaultRpcServiceConf = func() service.ServiceConf {
	var rc zrpc.RpcServerConf
	if err := conf.LoadFromYamlBytes([]byte("Name: rpc\nListenOn: 127.0.0.1:0\n"), &rc); err != nil {
		panic(err)
	}
	return rc.ServiceConf
}()

// firstProcessKey names the first field of sc, Name aside (it names the RPC server in its
// metrics and health probe), that differs from go-zero's default.
func firstProcessKey(sc service.ServiceConf) string {
	got, def := reflect.ValueOf(sc), reflect.ValueOf(defaultRpcServiceConf)
	for i := range got.NumField() {
		name := got.Type().Field(i).Name
		if name != "Name" && !reflect.DeepEqual(got.Field(i).Interface(), def.Field(i).Interface()) {
			return name
		}
	}
	return ""
}
