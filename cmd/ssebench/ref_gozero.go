package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/testinstance"
)

// serveGoZero serves the reference handlers through go-zero. go-zero listens itself, so
// the address ln holds is handed over: closed here and taken again by the server.
func (s *refServer) serveGoZero(ln net.Listener, maxConns int) {
	addr := ln.Addr().(*net.TCPAddr)
	devPort, err := testinstance.FreePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ref:", err)
		os.Exit(1)
	}
	var c rest.RestConf
	if err := conf.FillDefault(&c); err != nil {
		fmt.Fprintln(os.Stderr, "ref:", err)
		os.Exit(1)
	}
	c.Name, c.Host, c.Port, c.MaxConns = "ref-gozero", addr.IP.String(), addr.Port, maxConns
	c.Log.Level, c.Log.Stat = "error", false
	c.Middlewares.Log = false // as sse-api, which writes its own access log
	c.DevServer.Enabled, c.DevServer.Host, c.DevServer.Port = true, "127.0.0.1", devPort
	ln.Close()
	srv, err := rest.NewServer(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ref:", err)
		os.Exit(1)
	}
	srv.AddRoute(rest.Route{Method: http.MethodGet, Path: "/events", Handler: s.goctlEvents}, rest.WithSSE())
	srv.AddRoutes([]rest.Route{
		{Method: http.MethodPost, Path: "/publish", Handler: s.publish},
		{Method: http.MethodGet, Path: "/healthz", Handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }},
		{Method: http.MethodGet, Path: "/metrics", Handler: refMetrics},
	})
	srv.Start()
}

// goctlEvents reads the query as a handler goctl generates for sse-api's topic stream does.
func (s *refServer) goctlEvents(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Topics []string `form:"topic,optional"`
	}
	if err := httpx.Parse(r, &req); err != nil {
		httpx.ErrorCtx(r.Context(), w, err)
		return
	}
	name := ""
	if len(req.Topics) > 0 {
		name = req.Topics[0]
	}
	s.stream(w, r, name)
}
