// Package devserver serves go-zero's DevServer endpoints (/healthz, /metrics, pprof) from
// the service's own DevServer config, plus the probes an orchestrator needs: /livez (the
// process serves) and /readyz (it should get traffic: Redis answers, the pub/sub link is
// up, it is not shutting down); go-zero's /healthz answers as /readyz. go-zero's dev server
// has no way to add probes, so the service serves the block itself rather than run two.
//
// It listens on 127.0.0.1 unless DevServer.Host says otherwise: pprof and metrics are not
// for the world (go-zero's default is every interface).
package devserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/prometheus"
	"github.com/zeromicro/go-zero/core/service"
	"github.com/zeromicro/go-zero/core/threading"
)

// Probe reports why the service should not get traffic, or nil.
type Probe func(ctx context.Context) error

// Paths of the probes besides the configured HealthPath.
const (
	LivePath  = "/livez"
	ReadyPath = "/readyz"
)

// DefaultHost is where the dev server listens when DevServer.Host is empty.
const DefaultHost = "127.0.0.1"

// Handler returns the dev server's routes.
func Handler(c service.DevServerConfig, ready Probe) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(LivePath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, c.HealthResponse)
	})
	readiness := func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		fmt.Fprintln(w, c.HealthResponse)
	}
	mux.HandleFunc(ReadyPath, readiness)
	if c.HealthPath != ReadyPath && c.HealthPath != LivePath {
		mux.HandleFunc(c.HealthPath, readiness)
	}
	if c.EnableMetrics {
		prometheus.Enable()
		mux.Handle(c.MetricsPath, promhttp.Handler())
	}
	if c.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Addr is where the dev server of c listens.
func Addr(c service.DevServerConfig) string {
	host := c.Host
	if host == "" {
		host = DefaultHost
	}
	return net.JoinHostPort(host, strconv.Itoa(c.Port))
}

// Start serves Handler in the background when c is enabled.
func Start(c service.DevServerConfig, ready Probe) {
	if !c.Enabled {
		return
	}
	srv := &http.Server{Addr: Addr(c), Handler: Handler(c, ready), ReadHeaderTimeout: 5 * time.Second}
	threading.GoSafe(func() {
		logx.Infof("Starting dev http server at %s", srv.Addr)
		if err := srv.ListenAndServe(); err != nil {
			logx.Error(err)
		}
	})
}
