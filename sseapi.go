// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/proc"
	"github.com/zeromicro/go-zero/rest"

	"github.com/sseapi/sse-api/internal/apidoc"
	"github.com/sseapi/sse-api/internal/config"
	"github.com/sseapi/sse-api/internal/demo"
	"github.com/sseapi/sse-api/internal/devserver"
	"github.com/sseapi/sse-api/internal/handler"
	"github.com/sseapi/sse-api/internal/keywatch"
	"github.com/sseapi/sse-api/internal/logredact"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/rpc"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/web"
)

var configFile = flag.String("f", "etc/sse-api.yaml", "the config file")

func main() {
	flag.Parse()

	var c config.Config
	conf.MustLoad(*configFile, &c, conf.UseEnv())
	logx.MustSetup(c.Log)
	// Some go-zero middlewares log whole requests, credentials included.
	logredact.Install()
	logOpenFileLimit(c)
	// The DevServer block is served by internal/devserver, whose probes also check Redis;
	// go-zero's own dev server has no way to add them, so it must not start a second one.
	dev := c.DevServer
	c.DevServer.Enabled = false

	ctx, err := svc.NewServiceContext(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sse-api:", err)
		os.Exit(1)
	}
	defer ctx.Close()

	// Stream routes are never shed: plain routes shed through svc.Plain instead.
	server := rest.MustNewServer(middleware.ServerConf(c.RestConf), ctx.RunOptions()...)
	defer server.Stop()
	ctx.Use(server)
	handler.RegisterHandlers(server, ctx)
	web.Register(server)    // the demo pages at /
	apidoc.Register(server) // the API document at /openapi.json
	if c.Demo.Enabled {
		// Registered only when on, so that off it is an unknown route (config.Validate
		// allowed it with the embedded Redis only).
		demo.Register(server, c.Demo, ctx.Tokens)
		demo.RegisterKeys(server, ctx.Redis.Client, keywatch.Rules(c.Watch.Keys))
	}
	devserver.Start(dev, ctx.Ready)
	// The zRPC service (Rpc.ListenOn), on the same engine; go-zero stops it at shutdown
	// with the HTTP server, once its calls under way have ended.
	rpcServer, err := rpc.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sse-api:", err)
		os.Exit(1)
	}

	// On SIGTERM go-zero waits for running handlers, which streams never finish, and does
	// not know detached ones: end them, spread over Stream.DrainWindow, so their clients
	// reconnect to another instance and resume there. The process exits once they ended.
	drained := make(chan struct{})
	proc.AddWrapUpListener(func() {
		ctx.Draining.Store(true) // not ready any more: no new clients are sent here
		<-ctx.Streams.Shutdown()
		logx.Info("all streams ended")
		close(drained)
	})

	fmt.Printf("Starting server at %s:%d...\n", c.Host, c.Port)
	server.StartWithOpts(func(s *http.Server) {
		// Bodies are bounded in size and time before any of go-zero's middlewares runs,
		// with the service's JSON answers (go-zero's own MaxBytes check answers a bare 413).
		s.Handler = middleware.Edge(c.RestConf)(s.Handler)
		// The SSE group's timeout of 0 clears the server's read and write timeouts; bound
		// what a slow client may hold without them.
		s.ReadHeaderTimeout = time.Duration(c.Timeout) * time.Millisecond
		s.IdleTimeout = 2 * time.Minute
	})
	<-drained // the server stopped listening; its detached streams may still be ending
	rpcServer.Wait()
}
