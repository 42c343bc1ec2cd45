package rpc

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"

	"github.com/zeromicro/go-zero/core/logc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/redisconn"
)

// codeOf is the gRPC code of each status the service's errors (internal/apierr) carry.
var codeOf = map[int]codes.Code{
	http.StatusBadRequest:            codes.InvalidArgument,
	http.StatusUnauthorized:          codes.Unauthenticated,
	http.StatusForbidden:             codes.PermissionDenied,
	http.StatusNotFound:              codes.NotFound,
	http.StatusMethodNotAllowed:      codes.Unimplemented,
	http.StatusConflict:              codes.FailedPrecondition,
	http.StatusGone:                  codes.NotFound,
	http.StatusRequestTimeout:        codes.DeadlineExceeded,
	http.StatusRequestEntityTooLarge: codes.ResourceExhausted,
	http.StatusTooManyRequests:       codes.ResourceExhausted,
	http.StatusServiceUnavailable:    codes.Unavailable,
}

// statusOf is the gRPC status of an error of the logic, which speaks apierr as the HTTP
// logic does. Errors it did not classify are internal: logged here, never shown.
func statusOf(ctx context.Context, err error) error {
	var e *apierr.Error
	switch {
	case errors.As(err, &e):
		code, ok := codeOf[e.Status]
		if !ok {
			code = codes.Internal
		}
		return status.Error(code, e.Message)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the call timed out")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the caller canceled the call")
	case errors.Is(err, redisconn.ErrTimeout) || redisconn.Unavailable(err):
		logc.Errorf(ctx, "redis unavailable: %v", err)
		return status.Error(codes.Unavailable, "the event store is not reachable; try again")
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (Unimplemented, say)
	}
	logc.Errorf(ctx, "internal error: %v", err)
	return status.Error(codes.Internal, "internal error")
}

// answer gives every error of the logic its gRPC status, and turns a panic into an
// internal error rather than the end of the process (go-zero's own recovery can be
// configured off).
func answer(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			logc.Errorf(ctx, "panic in %s: %v\n%s", info.FullMethod, p, debug.Stack())
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
	}()
	resp, err = handler(ctx, req)
	if err != nil {
		return nil, statusOf(ctx, err)
	}
	return resp, nil
}
