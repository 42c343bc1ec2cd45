// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

// chat-relay is an example go-zero service beside sse-api: its POST /v1/answers asks an
// upstream model (a built-in fake one by default) and relays the streamed answer to a topic
// with publish.Relay; its page follows the topic on sse-api. See README.md.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/proc"
	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/examples/chat-relay/internal/config"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/errs"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/handler"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/svc"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/web"
)

var configFile = flag.String("f", "etc/chat-relay.yaml", "the config file")

func main() {
	flag.Parse()

	var c config.Config
	conf.MustLoad(*configFile, &c, conf.UseEnv())

	server := rest.MustNewServer(c.RestConf)
	defer server.Stop()

	ctx, err := svc.NewServiceContext(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat-relay:", err)
		os.Exit(1)
	}
	// At shutdown the answers in progress end with reason "cancelled", so their readers
	// are not left waiting.
	proc.AddWrapUpListener(ctx.Close)

	httpx.SetErrorHandlerCtx(errs.Handle)
	handler.RegisterHandlers(server, ctx)
	web.Register(server, c.EventsBase)

	fmt.Printf("Starting server at %s:%d...\n", c.Host, c.Port)
	server.Start()
}
