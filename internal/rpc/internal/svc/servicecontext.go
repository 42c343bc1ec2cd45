// Package svc is the context of the zRPC logic: the service's own, shared with the HTTP
// routes, and who a call acts as.
package svc

import (
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/svc"
)

// CallerUID is the uid that zRPC calls act as.
const CallerUID = "rpc"

type ServiceContext struct {
	*svc.ServiceContext
	// Caller is who every call acts as. A caller holds RpcAuth.Key, so it is a trusted
	// service: it may publish to every topic, read every topic's history and presence (uids
	// included) and disconnect any user. Topics that only the service itself writes stay
	// its own (qr: sessions, key: topics of watched Redis keys).
	Caller auth.Identity
}

func NewServiceContext(s *svc.ServiceContext) *ServiceContext {
	return &ServiceContext{
		ServiceContext: s,
		Caller: auth.Identity{
			UID:       CallerUID,
			Publish:   auth.Patterns{"*"},
			Subscribe: auth.Patterns{"*"},
			Presence:  auth.Patterns{"*"},
			Admin:     true,
		},
	}
}
