// Package accesslog logs one line per request, with credentials removed. It replaces
// go-zero's own request log, which writes the raw request URI (tickets in query strings)
// and dumps whole requests, Authorization header and cookies included, on 5xx answers.
package accesslog

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zeromicro/go-zero/core/logc"
	"github.com/zeromicro/go-zero/core/logx"
)

// secretParams are query parameters whose values are credentials.
var secretParams = []string{"ticket", "access_token", "token", "secret"}

// Redact returns uri with the values of credential query parameters replaced.
func Redact(uri string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok {
		return uri
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return path + "?<unparsable query redacted>"
	}
	changed := false
	for _, p := range secretParams {
		for k := range values {
			if strings.EqualFold(k, p) {
				for i := range values[k] {
					values[k][i] = "REDACTED"
				}
				changed = true
			}
		}
	}
	if !changed {
		return uri
	}
	return path + "?" + values.Encode()
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

// Middleware logs each request once it is done, streams included.
func Middleware(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		fields := []logx.LogField{
			logc.Field("method", r.Method),
			logc.Field("uri", Redact(r.RequestURI)),
			logc.Field("status", status),
			logc.Field("remote", r.RemoteAddr),
			logc.Field("duration", time.Since(start).String()),
		}
		if status >= 500 {
			logc.Errorw(r.Context(), "http", fields...)
		} else {
			logc.Infow(r.Context(), "http", fields...)
		}
	}
}
