// Package redisconn connects to the Redis that sse-api keeps its events in: standalone,
// Sentinel or Cluster through go-redis's UniversalClient, or, when no address is
// configured, an embedded in-process Redis so that `go run .` works on a machine with
// nothing installed. The embedded one keeps nothing across restarts and serves one
// instance only; it is for development.
package redisconn

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"
)

// Conf says where Redis is.
type Conf struct {
	// Addr of a standalone server. Leave it and Addrs empty for the embedded development Redis.
	Addr string `json:",optional"`
	// Addrs of Cluster nodes, or of Sentinels when MasterName is set.
	Addrs      []string `json:",optional"`
	MasterName string   `json:",optional"`
	Username   string   `json:",optional"`
	Password   string   `json:",optional"`
	DB         int      `json:",optional"`
}

// Embedded reports whether c asks for the embedded development Redis.
func (c Conf) Embedded() bool { return c.Addr == "" && len(c.Addrs) == 0 }

// Conn is an open connection, with what it takes to close it.
type Conn struct {
	Client redis.UniversalClient
	// Addr is a single address for libraries that need one (go-zero's core/limit): the
	// standalone or embedded server, the first Cluster node, or the master a Sentinel names
	// at start-up (such libraries do not follow a failover until restarted).
	Addr     string
	Cluster  bool
	Embedded bool
	embedded *miniredis.Miniredis
}

// Close closes the client and stops the embedded server.
func (c *Conn) Close() error {
	err := c.Client.Close()
	if c.embedded != nil {
		c.embedded.Close()
	}
	return err
}

// Connect opens c and checks that Redis answers.
func Connect(c Conf) (*Conn, error) {
	conn := &Conn{}
	opts := &redis.UniversalOptions{
		Addrs: c.Addrs, MasterName: c.MasterName,
		Username: c.Username, Password: c.Password, DB: c.DB,
	}
	switch {
	case c.Embedded():
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		conn.embedded, conn.Embedded = m, true
		opts.Addrs = []string{m.Addr()}
		logx.Alert("EMBEDDED REDIS: Redis.Addr is empty, so sse-api runs its own in-process Redis " +
			"(development mode). Nothing survives a restart and other instances cannot share it. " +
			"Set Redis.Addr (or Redis.Addrs) for anything else.")
	case c.Addr != "":
		opts.Addrs = []string{c.Addr}
	}
	if c.MasterName == "" && len(opts.Addrs) > 1 {
		conn.Cluster = true
		opts.IsClusterMode = true
	}
	conn.Addr = opts.Addrs[0]
	conn.Client = redis.NewUniversalClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Client.Ping(ctx).Err(); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("redis at %v does not answer: %w", opts.Addrs, err)
	}
	if c.MasterName != "" {
		sentinel := redis.NewSentinelClient(&redis.Options{Addr: opts.Addrs[0], Username: c.Username, Password: c.Password})
		defer sentinel.Close()
		master, err := sentinel.GetMasterAddrByName(ctx, c.MasterName).Result()
		if err != nil || len(master) != 2 {
			_ = conn.Close()
			return nil, fmt.Errorf("sentinel %s does not name master %q: %v", opts.Addrs[0], c.MasterName, err)
		}
		conn.Addr = master[0] + ":" + master[1]
	}
	return conn, nil
}
