package config

import (
	"strings"
	"testing"

	"github.com/zeromicro/go-zero/core/conf"
)

// loadRpc loads the minimal valid config with the given Rpc and RpcAuth blocks added.
func loadRpc(t *testing.T, blocks string) (Config, error) {
	t.Helper()
	yaml := "Name: x\nPort: 1\nMiddlewares:\n  Log: false\nAuth:\n  AccessSecret: secret-12345678\n" + blocks
	var c Config
	err := conf.LoadFromYamlBytes([]byte(yaml), &c)
	return c, err
}

const rpcOn = "Rpc:\n  Name: sse-api-rpc\n  ListenOn: 127.0.0.1:8080\n"

func TestRpcIsOffWithoutItsBlock(t *testing.T) {
	c, err := loadRpc(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.RpcOn() {
		t.Error("the zRPC service is on without an Rpc block")
	}
}

func TestRpcAccepts(t *testing.T) {
	for name, blocks := range map[string]string{
		"a key":                      rpcOn + "RpcAuth:\n  Key: 0123456789abcdef\n",
		"a key and a previous one":   rpcOn + "RpcAuth:\n  Key: 0123456789abcdef\n  PreviousKey: fedcba9876543210\n",
		"its own settings":           rpcOn + "  Timeout: 500\n  CpuThreshold: 800\n  Health: false\n  Middlewares:\n    Stat: false\nRpcAuth:\n  Key: 0123456789abcdef\n",
		"a default of go-zero's own": rpcOn + "  Mode: pro\nRpcAuth:\n  Key: 0123456789abcdef\n",
		"a key but no service":       "RpcAuth:\n  Key: short\n",
		"the largest history page":   rpcOn + "RpcAuth:\n  Key: 0123456789abcdef\nStream:\n  MaxHistoryPage: 4128768\n",
		"large pages, no zRPC":       "Stream:\n  MaxHistoryPage: 16777216\n",
	} {
		if _, err := loadRpc(t, blocks); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRpcRefuses(t *testing.T) {
	for _, tc := range []struct{ name, blocks, want string }{
		{"no key", rpcOn, "RpcAuth.Key"},
		{"a short key", rpcOn + "RpcAuth:\n  Key: 0123456789abcde\n", "RpcAuth.Key"},
		{"a short previous key", rpcOn + "RpcAuth:\n  Key: 0123456789abcdef\n  PreviousKey: short\n", "RpcAuth.PreviousKey"},
		{"the same previous key", rpcOn + "RpcAuth:\n  Key: 0123456789abcdef\n  PreviousKey: 0123456789abcdef\n", "RpcAuth.PreviousKey"},
		{"no timeout", rpcOn + "  Timeout: 0\nRpcAuth:\n  Key: 0123456789abcdef\n", "Rpc.Timeout"},
		{"go-zero's RPC auth", rpcOn + "  Auth: true\n  Redis:\n    Host: 127.0.0.1:6379\n    Type: node\n    Key: apps\nRpcAuth:\n  Key: 0123456789abcdef\n", "Rpc.Auth"},
		// The process's settings, which go-zero would apply again from the Rpc block.
		{"a log of its own", rpcOn + "  Log:\n    Level: error\nRpcAuth:\n  Key: 0123456789abcdef\n", "Rpc.Log"},
		{"a mode", rpcOn + "  Mode: dev\nRpcAuth:\n  Key: 0123456789abcdef\n", "Rpc.Mode"},
		{"telemetry", rpcOn + "  Telemetry:\n    Endpoint: http://127.0.0.1:4318\nRpcAuth:\n  Key: 0123456789abcdef\n", "Rpc.Telemetry"},
		{"a dev server", rpcOn + "  DevServer:\n    Enabled: true\nRpcAuth:\n  Key: 0123456789abcdef\n", "Rpc.DevServer"},
		{"shutdown times", rpcOn + "  Shutdown:\n    WaitTime: 1s\nRpcAuth:\n  Key: 0123456789abcdef\n", "Rpc.Shutdown"},
		{"a metrics URL", rpcOn + "  MetricsUrl: http://127.0.0.1:1\nRpcAuth:\n  Key: 0123456789abcdef\n", "Rpc.MetricsUrl"},
		// gRPC clients receive 4 MiB at most by default: a page must fit.
		{"history pages past 4 MiB", rpcOn + "RpcAuth:\n  Key: 0123456789abcdef\nStream:\n  MaxHistoryPage: 4194304\n", "Stream.MaxHistoryPage"},
		{"events past 4 MiB", rpcOn + "RpcAuth:\n  Key: 0123456789abcdef\nStream:\n  MaxPayload: 4194304\n", "Stream.MaxPayload"},
	} {
		_, err := loadRpc(t, tc.blocks)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal naming %s", tc.name, err, tc.want)
		}
	}
}
