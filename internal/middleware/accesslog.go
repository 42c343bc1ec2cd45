package middleware

import (
	"context"
	"net/http"
	"time"

	"github.com/zeromicro/go-zero/core/logc"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/logredact"
)

// AccessLog logs one line per request once it is done, with credentials removed. It
// replaces go-zero's own request log, which writes the raw request URI (tickets in query
// strings) and dumps whole requests, Authorization header and cookies included, on 5xx
// answers. A stream that outlives its handler logs its line when it ends (DeferAccessLog).
func AccessLog(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e := &accessEntry{
			method: r.Method, uri: logredact.URI(r.RequestURI), remote: r.RemoteAddr, start: time.Now(),
		}
		sw := &statusWriter{ResponseWriter: w}
		next(sw, r.WithContext(context.WithValue(r.Context(), accessKey{}, e)))
		if e.deferred {
			return
		}
		e.log(r.Context(), sw.status)
	}
}

// DeferAccessLog takes the access log line of the request ctx belongs to away from the
// request's end: the returned function writes it, with the duration up to then. For streams
// that go on after their handler returned.
func DeferAccessLog(ctx context.Context) func(ctx context.Context, status int) {
	e, ok := ctx.Value(accessKey{}).(*accessEntry)
	if !ok {
		return func(context.Context, int) {}
	}
	e.deferred = true
	return e.log
}

type accessKey struct{}

type accessEntry struct {
	method, uri, remote string
	start               time.Time
	deferred            bool
}

func (e *accessEntry) log(ctx context.Context, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	fields := []logx.LogField{
		logc.Field("method", e.method),
		logc.Field("uri", e.uri),
		logc.Field("status", status),
		logc.Field("remote", e.remote),
		logc.Field("duration", time.Since(e.start).String()),
	}
	if status >= 500 {
		logc.Errorw(ctx, "http", fields...)
	} else {
		logc.Infow(ctx, "http", fields...)
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes, write deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
