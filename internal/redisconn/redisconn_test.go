package redisconn

import (
	"context"
	"testing"

	"github.com/sseapi/sse-api/internal/redistest"
)

func TestEmbeddedWhenNoAddress(t *testing.T) {
	c, err := Connect(Conf{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Embedded || c.Addr == "" || c.Client.Ping(context.Background()).Err() != nil {
		t.Fatalf("embedded conn %+v", c)
	}
}

func TestStandalone(t *testing.T) {
	addr := redistest.Addr(t)
	c, err := Connect(Conf{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Embedded || c.Cluster || c.Addr != addr {
		t.Fatalf("conn %+v", c)
	}
	if _, err := Connect(Conf{Addr: "127.0.0.1:1"}); err == nil {
		t.Fatal("a dead address connected")
	}
}
