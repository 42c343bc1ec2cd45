// Package apierr is the one shape of every error the service answers with:
// {"code": "<stable machine-readable code>", "message": "<for people>"} with a real HTTP
// status, always sent before any stream opens (an EventSource cannot read a body once the
// stream has started, and treats a non-200 status as final).
package apierr

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/zeromicro/go-zero/core/logc"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/redisconn"
)

// Error is an answer to a request that cannot be served.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code string) func(string) *Error {
	return func(msg string) *Error { return &Error{Status: status, Code: code, Message: msg} }
}

var (
	BadRequest       = newError(http.StatusBadRequest, "bad_request")
	Unauthorized     = newError(http.StatusUnauthorized, "unauthorized")
	Forbidden        = newError(http.StatusForbidden, "forbidden")
	NotFound         = newError(http.StatusNotFound, "not_found")
	MethodNotAllowed = newError(http.StatusMethodNotAllowed, "method_not_allowed")
	Conflict         = newError(http.StatusConflict, "conflict")
	Gone             = newError(http.StatusGone, "gone")
	TooLarge         = newError(http.StatusRequestEntityTooLarge, "payload_too_large")
	TooManyRequests  = newError(http.StatusTooManyRequests, "rate_limited")
	Unavailable      = newError(http.StatusServiceUnavailable, "unavailable")
)

// Internal hides err from the client; it is logged where it is answered. An error that
// says Redis is not reachable (or not ready) is a passing one: 503 unavailable, which the
// client may retry, never 500.
func Internal(err error) error {
	if redisconn.Unavailable(err) {
		logx.Errorf("redis unavailable: %v", err)
		return Unavailable("the event store is not reachable; try again")
	}
	return &internal{err}
}

type internal struct{ error }

func (e *internal) Unwrap() error { return e.error }

// body is what goes on the wire; unlike Error it is not an error value, which go-zero's
// error handler would write as plain text.
type body struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Parsing classifies an error from reading and decoding a request (httpx.Parse): the
// client's, whatever it wraps. A truncated JSON body ends in io.ErrUnexpectedEOF, which
// Handle would otherwise take for a Redis connection that dropped (503).
func Parsing(err error) error {
	var e *Error
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil || errors.As(err, &e):
		return err
	case errors.As(err, &tooLarge):
		return TooLarge("request body is larger than the limit")
	case isTimeout(err):
		return &Error{Status: http.StatusRequestTimeout, Code: "request_timeout", Message: "the request body did not arrive in time"}
	}
	return BadRequest(err.Error())
}

// Body returns the wire form of e.
func (e *Error) Body() any { return body{Code: e.Code, Message: e.Message} }

// isTimeout reports whether err is a network timeout (a read deadline that passed).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded)
}

// statusClientClosedRequest is what go-zero (like nginx) records when the client left.
const statusClientClosedRequest = 499

// Handle maps any error to its status and body, for httpx.SetErrorHandlerCtx. Errors the
// logic did not classify come from go-zero's request parsing, so they are the client's.
func Handle(ctx context.Context, err error) (int, any) {
	var e *Error
	var tooLarge *http.MaxBytesError
	var in *internal
	switch {
	case errors.As(err, &e):
		return e.Status, e.Body()
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, TooLarge("request body is larger than the limit").Body()
	case isTimeout(err) && !errors.Is(err, redisconn.ErrTimeout):
		// A request body that did not arrive within the request timeout (middleware.Edge);
		// Redis's own timeouts say so (redisconn.ErrTimeout).
		return http.StatusRequestTimeout, body{Code: "request_timeout", Message: "the request body did not arrive in time"}
	case errors.Is(err, redisconn.ErrTimeout) || (redisconn.Unavailable(err) && !errors.Is(err, context.DeadlineExceeded)):
		// A bare context deadline is go-zero's request timeout, below.
		logc.Errorf(ctx, "redis unavailable: %v", err)
		return http.StatusServiceUnavailable, Unavailable("the event store is not reachable; try again").Body()
	case errors.Is(err, context.DeadlineExceeded):
		// go-zero's timeout middleware reports through the error handler once one is set.
		return http.StatusServiceUnavailable, Unavailable("request timed out").Body()
	case errors.Is(err, context.Canceled):
		return statusClientClosedRequest, body{Code: "canceled", Message: "client closed the request"}
	case errors.As(err, &in):
		logc.Errorf(ctx, "internal error: %v", in.error)
		return http.StatusInternalServerError, body{Code: "internal", Message: "internal error"}
	default:
		return http.StatusBadRequest, BadRequest(err.Error()).Body()
	}
}
