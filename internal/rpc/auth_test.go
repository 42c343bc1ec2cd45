package rpc

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestKeysCheck(t *testing.T) {
	const current, previous = "current-key-0123456789", "previous-key-0123456789"
	k := newKeys(current, previous)
	only := newKeys(current, "")
	call := func(k keys, method string, pairs ...string) codes.Code {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(pairs...))
		return status.Code(k.check(ctx, method))
	}
	const publish = "/sseapi.SseApi/Publish"
	for _, c := range []struct {
		what  string
		k     keys
		pairs []string
		want  codes.Code
	}{
		{"bearer", k, []string{"authorization", "Bearer " + current}, codes.OK},
		{"bearer, scheme in lower case", k, []string{"authorization", "bearer " + current}, codes.OK},
		{"x-api-key", k, []string{"x-api-key", current}, codes.OK},
		{"go-zero's token", k, []string{"app", "orders", "token", current}, codes.OK},
		{"the previous key", k, []string{"x-api-key", previous}, codes.OK},
		{"a wrong and a right key", k, []string{"x-api-key", "nope", "token", current}, codes.OK},
		{"nothing", k, nil, codes.Unauthenticated},
		{"an app without a token", k, []string{"app", "orders"}, codes.Unauthenticated},
		{"a wrong key", k, []string{"x-api-key", current + "x"}, codes.Unauthenticated},
		{"a prefix of the key", k, []string{"x-api-key", current[:10]}, codes.Unauthenticated},
		{"an empty key", k, []string{"x-api-key", ""}, codes.Unauthenticated},
		{"the key without a scheme", k, []string{"authorization", current}, codes.Unauthenticated},
		{"another scheme", k, []string{"authorization", "Basic " + current}, codes.Unauthenticated},
		{"a previous key no longer accepted", only, []string{"x-api-key", previous}, codes.Unauthenticated},
		{"no previous key: empty is not one", only, []string{"x-api-key", ""}, codes.Unauthenticated},
	} {
		if got := call(c.k, publish, c.pairs...); got != c.want {
			t.Errorf("%s: %v, want %v", c.what, got, c.want)
		}
	}
	if got := call(k, "/grpc.health.v1.Health/Check"); got != codes.OK {
		t.Errorf("health check without a key: %v", got)
	}
	if got := call(k, "/grpc.health.v1.HealthX/Check"); got != codes.Unauthenticated {
		t.Errorf("a service named like the health service: %v", got)
	}
}
