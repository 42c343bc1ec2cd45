package middleware

import (
	"net/http"

	"github.com/zeromicro/go-zero/core/load"
	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/metrics"
)

// Shedding is go-zero's adaptive load shedding (CpuThreshold), for plain routes only. go-zero
// sheds every route of a server alike, stream opens included, with a bare 503 that a
// browser's EventSource never retries: one CPU spike would lose those pages for good. So the
// service takes the setting over: go-zero's own shedder is off (ServerConf), and the
// generated handler of every plain route sheds through this one, with a JSON 503.
type Shedding struct {
	shedder load.Shedder // nil: no shedding
}

// NewShedding sheds by c's CpuThreshold unless Middlewares.Shedding is off or the
// threshold is 0, as go-zero would.
func NewShedding(c rest.RestConf) *Shedding {
	if !c.Middlewares.Shedding || c.CpuThreshold <= 0 {
		return &Shedding{}
	}
	return &Shedding{shedder: load.NewAdaptiveShedder(load.WithCpuThreshold(c.CpuThreshold))}
}

// ServerConf is c as go-zero's server must get it: with its own shedder off.
func ServerConf(c rest.RestConf) rest.RestConf {
	c.CpuThreshold = 0
	return c
}

// Wrap sheds next's requests while the CPU is over the threshold and the server is busier
// than it has shown it can be.
func (s *Shedding) Wrap(next http.HandlerFunc) http.HandlerFunc {
	if s.shedder == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		promise, err := s.shedder.Allow()
		if err != nil {
			metrics.Shed.Inc()
			httpx.ErrorCtx(r.Context(), w, apierr.Unavailable("the server is overloaded; try again"))
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if sw.status == http.StatusServiceUnavailable {
				promise.Fail()
			} else {
				promise.Pass()
			}
		}()
		next(sw, r)
	}
}
