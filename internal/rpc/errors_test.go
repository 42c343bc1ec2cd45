package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/redisconn"
)

func TestStatusOf(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		err     error
		code    codes.Code
		message string
	}{
		{apierr.BadRequest("malformed topic"), codes.InvalidArgument, "malformed topic"},
		{apierr.Unauthorized("no"), codes.Unauthenticated, "no"},
		{apierr.Forbidden("not yours"), codes.PermissionDenied, "not yours"},
		{apierr.NotFound("no such user"), codes.NotFound, "no such user"},
		{apierr.TooLarge("too big"), codes.ResourceExhausted, "too big"},
		{apierr.TooManyRequests("slow down"), codes.ResourceExhausted, "slow down"},
		{apierr.Unavailable("later"), codes.Unavailable, "later"},
		{fmt.Errorf("wrapped: %w", apierr.Forbidden("inner")), codes.PermissionDenied, "inner"},
		{apierr.Internal(fmt.Errorf("publish: %w", redisconn.ErrTimeout)), codes.Unavailable, "not reachable"},
		{apierr.Internal(errors.New("secret detail")), codes.Internal, "internal error"},
		{errors.New("unclassified detail"), codes.Internal, "internal error"},
		{context.DeadlineExceeded, codes.DeadlineExceeded, "timed out"},
		{status.Error(codes.Unimplemented, "later"), codes.Unimplemented, "later"},
	} {
		got := status.Convert(statusOf(ctx, c.err))
		if got.Code() != c.code || !strings.Contains(got.Message(), c.message) {
			t.Errorf("%v: %v %q, want %v with %q", c.err, got.Code(), got.Message(), c.code, c.message)
		}
	}
}

func TestAnswerTurnsAPanicIntoAnInternalError(t *testing.T) {
	info := &grpc.UnaryServerInfo{FullMethod: "/sseapi.SseApi/Publish"}
	resp, err := answer(context.Background(), nil, info, func(context.Context, any) (any, error) { panic("boom") })
	if resp != nil || status.Code(err) != codes.Internal || strings.Contains(err.Error(), "boom") {
		t.Fatalf("%v, %v; want an internal error that does not show the panic", resp, err)
	}
}
