// Package rpc serves the server API of sse-api over zRPC (rpc/sseapi.proto): publish, batch
// publish, history, presence and disconnect, for other go-zero services. It runs inside the
// service's process, on the same engine as the HTTP routes, on a port of its own (config
// Rpc), and every call but the gRPC health check presents the shared key RpcAuth.Key.
package rpc

import (
	"errors"
	"fmt"
	"slices"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/zrpc"
	"google.golang.org/grpc"

	"github.com/sseapi/sse-api/internal/rpc/internal/server"
	rpcsvc "github.com/sseapi/sse-api/internal/rpc/internal/svc"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/rpc/sseapi"
)

// requestFraming is what a request may hold besides the bytes an HTTP body would: a topic
// (128 bytes), an event name (64) and the fields' tags and lengths.
const requestFraming = 256

// Server is a running zRPC server.
type Server struct {
	Addr    string
	stopped chan struct{}
}

// Start starts the zRPC server of the service when Rpc.ListenOn is set (nil, nil
// otherwise) and returns once it listens. It stops by itself at shutdown, with go-zero's
// other servers, after the calls under way have ended (Wait waits for that).
func Start(s *svc.ServiceContext) (*Server, error) {
	c := s.Config
	if !c.RpcOn() {
		return nil, nil
	}
	rc := c.Rpc
	// The Rpc block's own ServiceConf is left at go-zero's defaults (config.Validate
	// refuses anything else): go-zero sets it up again for the RPC server, so it gets the
	// process's, whose one-time parts (logs, traces, the dev server) are set up already and
	// whose other parts (mode, shutdown times) are the same values again.
	name := rc.Name
	rc.ServiceConf = c.ServiceConf
	rc.Name = name
	rc.DevServer.Enabled = false // internal/devserver serves the process's
	// go-zero's stat middleware logs every request whole, event payloads and uids
	// included, as the HTTP access log never does.
	quiet := slices.Clone(rc.Middlewares.StatConf.IgnoreContentMethods)
	for _, m := range sseapi.SseApi_ServiceDesc.Methods {
		quiet = append(quiet, "/"+sseapi.SseApi_ServiceDesc.ServiceName+"/"+m.MethodName)
	}
	rc.Middlewares.StatConf.IgnoreContentMethods = quiet

	listening := make(chan struct{})
	register := func(g *grpc.Server) {
		sseapi.RegisterSseApiServer(g, server.NewSseApiServer(rpcsvc.NewServiceContext(s)))
		close(listening) // zrpc registers once its listener is open
	}
	srv, err := zrpc.NewServer(rc, register)
	if err != nil {
		return nil, fmt.Errorf("Rpc: %w", err)
	}
	// Requests are bounded as HTTP bodies are: a batch's (the largest), with room for a
	// topic and event name that HTTP carries in the URL; a larger one is refused with
	// ResourceExhausted unread. Each event's data is held to Stream.MaxPayload by the logic.
	srv.AddOptions(grpc.MaxRecvMsgSize(int(c.Stream.BatchBodyLimit()) + requestFraming))
	k := newKeys(c.RpcAuth.Key, c.RpcAuth.PreviousKey)
	srv.AddUnaryInterceptors(k.unary, answer)
	srv.AddStreamInterceptors(k.stream)

	out := &Server{Addr: rc.ListenOn, stopped: make(chan struct{})}
	failed := make(chan error, 1)
	go func() {
		defer close(out.stopped)
		defer func() {
			// zrpc panics when it cannot listen.
			if p := recover(); p != nil {
				failed <- fmt.Errorf("%v", p)
			}
		}()
		srv.Start() // serves until go-zero's shutdown stops it gracefully
		failed <- errors.New("stopped")
	}()
	select {
	case <-listening:
	case err := <-failed:
		return nil, fmt.Errorf("Rpc.ListenOn %s: %w", rc.ListenOn, err)
	}
	logx.Infof("zRPC server listening at %s", rc.ListenOn)
	return out, nil
}

// Wait waits until the server has stopped; a nil Server has nothing to wait for.
func (s *Server) Wait() {
	if s != nil {
		<-s.stopped
	}
}
