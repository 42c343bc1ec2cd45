package testinstance

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/redistest"
)

var binary string

func TestMain(m *testing.M) { Main(m.Run, false, &binary) }

func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func accepts(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func TestStartServesUntilStopped(t *testing.T) {
	c := Config{Secret: "testinstance-secret-0123", RedisAddr: redistest.Addr(t), LogLevel: "info"}
	inst, err := Start(within(t, 30*time.Second), binary, t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Kill)
	// Ready means serving, at once: the API answers (401 JSON, no token), Redis is healthy.
	resp, err := http.Get("http://" + inst.APIAddr + "/v1/events?topic=news:1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /v1/events: %d %s, want 401 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, err := http.Get("http://" + inst.DevAddr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	if logs := inst.Logs.String(); !strings.Contains(logs, "Starting server at "+inst.APIAddr) {
		t.Errorf("logs lack the start:\n%s", logs)
	}
	if cfg, err := os.ReadFile(inst.ConfigPath); err != nil || !strings.Contains(string(cfg), "\nPort: "+strings.Split(inst.APIAddr, ":")[1]+"\n") {
		t.Errorf("config %s: %v\n%s", inst.ConfigPath, err, cfg)
	}

	inst.Stop(10 * time.Second)
	if !inst.Exited() || accepts(inst.APIAddr) || accepts(inst.DevAddr) {
		t.Errorf("after Stop: exited %v, API accepts %v, DevServer accepts %v", inst.Exited(), accepts(inst.APIAddr), accepts(inst.DevAddr))
	}
	if !strings.Contains(inst.Logs.String(), "all streams ended") {
		t.Errorf("Stop did not shut the instance down gracefully:\n%s", inst.Logs)
	}
	if inst.Raced() {
		t.Errorf("race reported:\n%s", inst.Logs)
	}
}

func TestTwoInstancesOnFreePorts(t *testing.T) {
	var insts []*Instance
	for range 2 {
		inst, err := Start(within(t, 30*time.Second), binary, t.TempDir(), Config{Secret: "testinstance-secret-0123", RedisAddr: redistest.Addr(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(inst.Kill)
		insts = append(insts, inst)
	}
	if insts[0].APIAddr == insts[1].APIAddr || insts[0].DevAddr == insts[1].DevAddr || insts[0].APIAddr == insts[0].DevAddr {
		t.Errorf("ports shared: %+v %+v", insts[0], insts[1])
	}
	insts[0].Kill()
	if insts[0].ExitCode() != -1 || accepts(insts[0].APIAddr) || !accepts(insts[1].APIAddr) {
		t.Errorf("Kill: exit code %d, killed accepts %v, other accepts %v", insts[0].ExitCode(), accepts(insts[0].APIAddr), accepts(insts[1].APIAddr))
	}
}

func TestStartFailsWithTheLogsWhenTheInstanceExits(t *testing.T) {
	_, err := Start(within(t, 30*time.Second), binary, t.TempDir(), Config{Secret: "testinstance-secret-0123", RedisAddr: redistest.Addr(t), Verbose: true})
	if err == nil || !strings.Contains(err.Error(), "exited at start") || !strings.Contains(err.Error(), "Verbose: true is not supported") {
		t.Fatalf("err = %v", err)
	}
}

func TestWaitReadyEndsWithItsContext(t *testing.T) {
	// A process that never says it is starting.
	silent := filepath.Join(t.TempDir(), "silent")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\necho booting\nexec sleep 60\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	inst, err := Launch(silent, t.TempDir(), Config{Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Kill)
	begin := time.Now()
	err = inst.WaitReady(within(t, 300*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "did not start") || !strings.Contains(err.Error(), "booting") {
		t.Fatalf("err = %v", err)
	}
	if waited := time.Since(begin); waited > 5*time.Second {
		t.Errorf("waited %v past a 300ms context", waited)
	}
	if inst.Exited() {
		t.Error("WaitReady ended the process; Start's caller decides")
	}
}
