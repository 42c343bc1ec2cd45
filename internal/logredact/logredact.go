// Package logredact keeps credentials out of every log line, whoever writes it. Some of
// go-zero's own middlewares log whole requests: its JWT middleware dumps the request,
// Authorization header and cookies included, each time a token is refused. Redacting at the
// log writer covers those and anything added later.
package logredact

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/zeromicro/go-zero/core/logx"
)

// secretNames are the query parameters and cookies whose values are credentials: the one
// list of them (regular expressions, matched whole and without regard to case).
var secretNames = []string{"ticket", "access_token", "token", "secret", "qr_binding", "sse_resume_[0-9a-f]+"}

var secretName = regexp.MustCompile(`(?i)^(` + strings.Join(secretNames, "|") + `)$`)

var rules = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Header lines of dumped requests.
	{regexp.MustCompile(`(?im)^(authorization|proxy-authorization|cookie|set-cookie):[^\r\n]*`), "$1: REDACTED"},
	// Credentials in query strings and cookie pairs.
	{regexp.MustCompile(`(?i)\b(` + strings.Join(secretNames, "|") + `)=[^&\s";]*`), "$1=REDACTED"},
	{regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+`), "Bearer REDACTED"},
	// A JWT anywhere: three base64url parts, the first a JSON object.
	{regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`), "REDACTED-JWT"},
}

// Redact returns s with every credential it recognises replaced.
func Redact(s string) string {
	for _, r := range rules {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// URI returns a request URI with the values of credential query parameters replaced, for
// access logs and traces.
func URI(uri string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok {
		return uri
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return path + "?<unparsable query redacted>"
	}
	changed := false
	for k, vs := range values {
		if secretName.MatchString(k) {
			for i := range vs {
				vs[i] = "REDACTED"
			}
			changed = true
		}
	}
	if !changed {
		return uri
	}
	return path + "?" + values.Encode()
}

// Install wraps the current log writer (set up by logx.MustSetup) with redaction.
func Install() {
	next := logx.Reset()
	if next == nil {
		next = logx.NewWriter(os.Stdout)
	}
	logx.SetWriter(writer{next})
}

type writer struct{ next logx.Writer }

func redact(v any) any {
	switch x := v.(type) {
	case string:
		return Redact(x)
	case error:
		return Redact(x.Error())
	case fmt.Stringer:
		return Redact(x.String())
	default:
		return v
	}
}

func redactFields(fields []logx.LogField) []logx.LogField {
	for i := range fields {
		fields[i].Value = redact(fields[i].Value)
	}
	return fields
}

func (w writer) Alert(v any)  { w.next.Alert(redact(v)) }
func (w writer) Close() error { return w.next.Close() }
func (w writer) Debug(v any, fields ...logx.LogField) {
	w.next.Debug(redact(v), redactFields(fields)...)
}
func (w writer) Error(v any, fields ...logx.LogField) {
	w.next.Error(redact(v), redactFields(fields)...)
}
func (w writer) Info(v any, fields ...logx.LogField) { w.next.Info(redact(v), redactFields(fields)...) }
func (w writer) Severe(v any)                        { w.next.Severe(redact(v)) }
func (w writer) Slow(v any, fields ...logx.LogField) { w.next.Slow(redact(v), redactFields(fields)...) }
func (w writer) Stack(v any)                         { w.next.Stack(redact(v)) }
func (w writer) Stat(v any, fields ...logx.LogField) { w.next.Stat(redact(v), redactFields(fields)...) }
