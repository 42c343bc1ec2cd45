package rpc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Metadata that may carry the shared key. A go-zero client sends its RpcClientConf.Token
// as "token" (with its App as "app"), so a go-zero caller needs no code of its own.
const (
	authorizationHeader = "authorization"
	apiKeyHeader        = "x-api-key"
	goZeroTokenHeader   = "token"
)

// healthService is the gRPC health service, which load balancers and probes call without
// a key; it says whether the server serves, nothing more.
const healthService = "/grpc.health.v1.Health/"

// keys are the accepted shared keys (RpcAuth.Key, and PreviousKey while rotating), kept as
// digests: comparing digests takes the same time whatever the length of what was sent.
type keys [][sha256.Size]byte

func newKeys(accepted ...string) keys {
	var k keys
	for _, a := range accepted {
		if a != "" {
			k = append(k, sha256.Sum256([]byte(a)))
		}
	}
	return k
}

// match reports whether presented is one of the keys; every key is compared, each in
// constant time.
func (k keys) match(presented string) bool {
	sum := sha256.Sum256([]byte(presented))
	ok := 0
	for _, want := range k {
		ok |= subtle.ConstantTimeCompare(sum[:], want[:])
	}
	return ok == 1
}

// presented returns the keys that a call's metadata carries.
func presented(md metadata.MD) []string {
	var out []string
	for _, v := range md.Get(authorizationHeader) {
		if scheme, key, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
			out = append(out, strings.TrimSpace(key))
		}
	}
	out = append(out, md.Get(apiKeyHeader)...)
	return append(out, md.Get(goZeroTokenHeader)...)
}

// check lets a call through when its metadata carries an accepted key.
func (k keys) check(ctx context.Context, method string) error {
	if strings.HasPrefix(method, healthService) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	sent := presented(md)
	if len(sent) == 0 {
		return status.Error(codes.Unauthenticated, "missing key: send metadata \"authorization: Bearer <RpcAuth.Key>\", "+
			"\"x-api-key: <RpcAuth.Key>\", or set Token in the client's RpcClientConf")
	}
	for _, s := range sent {
		if k.match(s) {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "wrong key")
}

func (k keys) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := k.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (k keys) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := k.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
