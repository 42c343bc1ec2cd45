// Package redisconn connects to the Redis that sse-api keeps its events in: standalone,
// Sentinel or Cluster through go-redis's UniversalClient, or, when no address is
// configured, an embedded in-process Redis so that `go run .` works on a machine with
// nothing installed. The embedded one keeps nothing across restarts and serves one
// instance only; it is for development.
//
// Every command is bounded by Conf.Timeout, and Unavailable tells the errors that mean
// "Redis is not reachable or not ready" from the others, so callers can answer 503 at once.
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"
)

// DefaultTimeout is Conf.Timeout when it is not set.
const DefaultTimeout = time.Second

// Conf says where Redis is.
type Conf struct {
	// Addr of a standalone server. Leave it and Addrs empty for the embedded development Redis.
	Addr string `json:",optional"`
	// Addrs of Cluster nodes, or of Sentinels when MasterName is set.
	Addrs      []string `json:",optional"`
	MasterName string   `json:",optional"`
	Username   string   `json:",optional"`
	Password   string   `json:",optional"`
	// SentinelUsername and SentinelPassword authenticate to the Sentinels, when they
	// require other credentials than the data nodes.
	SentinelUsername string `json:",optional"`
	SentinelPassword string `json:",optional"`
	// DB is the database number; Cluster has database 0 only.
	DB int `json:",optional"`
	// PoolSize is the number of connections per node; 0 keeps go-redis's 10 per CPU.
	PoolSize int `json:",optional"`
	// Timeout bounds dialing, every read and write, the wait for a pooled connection, and
	// each command as a whole (retries and Cluster redirects included), so that a Redis
	// that is down or hung shows as an error within it.
	Timeout time.Duration `json:",default=1s"`
	TLS     TLSConf       `json:",optional"`
}

// TLSConf turns on TLS to every Redis node (and Sentinel).
type TLSConf struct {
	Enabled bool `json:",optional"`
	// CAFile holds the PEM certificates of the CAs that sign the servers' certificates;
	// empty trusts the system's roots.
	CAFile string `json:",optional"`
	// ServerName is the name the servers' certificates must carry; empty means the host of
	// the address dialled.
	ServerName string `json:",optional"`
	// CertFile and KeyFile are a client certificate, for servers that ask for one
	// (tls-auth-clients).
	CertFile string `json:",optional"`
	KeyFile  string `json:",optional"`
}

// Embedded reports whether c asks for the embedded development Redis.
func (c Conf) Embedded() bool { return c.Addr == "" && len(c.Addrs) == 0 }

// Cluster reports whether c names Cluster nodes.
func (c Conf) Cluster() bool { return c.MasterName == "" && len(c.Addrs) > 1 }

// Validate refuses settings that cannot work, with the key at fault.
func (c Conf) Validate() error {
	switch {
	case c.Addr != "" && len(c.Addrs) > 0:
		return errors.New("Redis: set Addr (one server) or Addrs (Cluster nodes or Sentinels), not both")
	case c.MasterName != "" && len(c.Addrs) == 0:
		return errors.New("Redis.MasterName needs the Sentinels' addresses in Redis.Addrs")
	case c.Cluster() && c.DB != 0:
		return errors.New("Redis.DB must be 0 with Cluster, which has database 0 only")
	case c.DB < 0 || c.PoolSize < 0 || c.Timeout < 0:
		return errors.New("Redis.DB, Redis.PoolSize and Redis.Timeout cannot be negative")
	case c.Embedded() && c.TLS.Enabled:
		return errors.New("Redis.TLS is on but no address is set (the embedded Redis has no TLS)")
	case (c.TLS.CertFile == "") != (c.TLS.KeyFile == ""):
		return errors.New("Redis.TLS: CertFile and KeyFile go together")
	}
	_, err := c.TLS.config()
	return err
}

// config builds the client's TLS configuration, or nil when TLS is off.
func (t TLSConf) config() (*tls.Config, error) {
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.ServerName != "" {
			return nil, errors.New("Redis.TLS has files or a server name but Enabled is false")
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("Redis.TLS.CAFile: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("Redis.TLS.CAFile: no PEM certificate in %s", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("Redis.TLS.CertFile/KeyFile: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Conn is an open connection, with what it takes to close it.
type Conn struct {
	Client   redis.UniversalClient
	Cluster  bool
	Embedded bool
	embedded *miniredis.Miniredis
}

// EmbeddedServer is the embedded development Redis, nil with a real one: for what must be
// taught to it, as it lacks some of Redis (keyspace notifications, see internal/keywatch).
func (c *Conn) EmbeddedServer() *miniredis.Miniredis { return c.embedded }

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
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tlsConf, _ := c.TLS.config()
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	conn := &Conn{}
	opts := &redis.UniversalOptions{
		Addrs: c.Addrs, MasterName: c.MasterName,
		Username: c.Username, Password: c.Password, DB: c.DB,
		SentinelUsername: c.SentinelUsername, SentinelPassword: c.SentinelPassword,
		PoolSize: c.PoolSize, TLSConfig: tlsConf,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
		// go-redis dials 5 times, 100 ms apart, inside each of its 4 tries: two seconds of
		// refused connections before an error. One dial per try; the tries stay (they ride
		// out LOADING, READONLY and a switching master).
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
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
	if c.Cluster() {
		conn.Cluster = true
		opts.IsClusterMode = true
	}
	conn.Client = redis.NewUniversalClient(opts)
	conn.Client.AddHook(boundHook{timeout: timeout})
	if cc, ok := conn.Client.(*redis.ClusterClient); ok {
		conn.Client.AddHook(reloadHook{cc})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Client.Ping(ctx).Err(); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("redis at %v does not answer: %w", opts.Addrs, err)
	}
	return conn, nil
}
