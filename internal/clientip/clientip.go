// Package clientip finds the address a request really comes from. X-Forwarded-For is
// believed only as far as it was written by proxies the operator trusts; otherwise anybody
// could pick the address that rate limits count and that the QR-login phone is shown.
package clientip

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver knows which proxies are trusted.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver trusts the given CIDRs or single addresses.
func NewResolver(trusted []string) (*Resolver, error) {
	r := &Resolver{}
	for _, s := range trusted {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			addr, err := netip.ParseAddr(s)
			if err != nil {
				return nil, err
			}
			r.trusted = append(r.trusted, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

func (r *Resolver) isTrusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range r.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Of returns the client address of req: the peer, or, when the peer is a trusted proxy, the
// right-most X-Forwarded-For entry that is not itself a trusted proxy.
func (r *Resolver) Of(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if !r.isTrusted(peer) {
		return peer.Unmap().String()
	}
	hops := strings.Split(strings.Join(req.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !r.isTrusted(hop) {
			return hop.Unmap().String()
		}
		peer = hop
	}
	return peer.Unmap().String()
}

type ctxKey struct{}

// Middleware stores the client address in the request context for the logic.
func (r *Resolver) Middleware(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		next(w, req.WithContext(context.WithValue(req.Context(), ctxKey{}, r.Of(req))))
	}
}

// FromContext returns the client address stored by Middleware.
func FromContext(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}
