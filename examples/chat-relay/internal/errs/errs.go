// Package errs gives every error of the service one JSON shape, {"code", "message"}, with
// its HTTP status: go-zero's handlers answer errors through Handle (httpx.SetErrorHandlerCtx).
package errs

import (
	"context"
	"errors"
	"net/http"

	"github.com/zeromicro/go-zero/core/logx"
)

// Error is an answer to a request that failed.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func BadRequest(msg string) *Error { return &Error{http.StatusBadRequest, "bad_request", msg} }

func TooManyRequests(msg string) *Error {
	return &Error{http.StatusTooManyRequests, "rate_limited", msg}
}

func Unavailable(msg string) *Error { return &Error{http.StatusServiceUnavailable, "unavailable", msg} }

// Handle is the body and status of err. Errors of other types come from go-zero's request
// parsing, before any logic ran: the request was malformed.
func Handle(ctx context.Context, err error) (int, any) {
	var e *Error
	if errors.As(err, &e) {
		if e.Status >= 500 {
			logx.WithContext(ctx).Errorf("%s: %s", e.Code, e.Message)
		}
		return e.Status, body{e.Code, e.Message}
	}
	return http.StatusBadRequest, body{"bad_request", err.Error()}
}

// body is an Error as JSON; go-zero writes an error value as plain text.
type body struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
