// Package devserver serves go-zero's DevServer endpoints (/healthz, /metrics, pprof) from
// the service's own DevServer config, with one difference: /healthz also checks that Redis
// answers. go-zero's dev server has no public way to add a health probe, so the service
// takes the DevServer block over (and turns go-zero's own off) rather than run two.
package devserver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/prometheus"
	"github.com/zeromicro/go-zero/core/service"
	"github.com/zeromicro/go-zero/core/threading"
)

// Probe reports whether a dependency answers.
type Probe func(ctx context.Context) error

// Handler returns the dev server's routes.
func Handler(c service.DevServerConfig, redis Probe) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(c.HealthPath, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := redis(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "redis: %v\n", err)
			return
		}
		fmt.Fprintln(w, c.HealthResponse)
	})
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

// Start serves Handler in the background when c is enabled.
func Start(c service.DevServerConfig, redis Probe) {
	if !c.Enabled {
		return
	}
	addr := fmt.Sprintf("%s:%d", c.Host, c.Port)
	srv := &http.Server{Addr: addr, Handler: Handler(c, redis), ReadHeaderTimeout: 5 * time.Second}
	threading.GoSafe(func() {
		logx.Infof("Starting dev http server at %s", addr)
		if err := srv.ListenAndServe(); err != nil {
			logx.Error(err)
		}
	})
}
