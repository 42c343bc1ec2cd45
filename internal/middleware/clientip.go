package middleware

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP finds the address a request really comes from. X-Forwarded-For is believed only
// as far as it was written by proxies the operator trusts; otherwise anybody could pick the
// address that rate limits count and that the QR-login phone is shown.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP trusts the given CIDRs or single addresses.
func NewClientIP(trusted []string) (*ClientIP, error) {
	r := &ClientIP{}
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

func (r *ClientIP) isTrusted(addr netip.Addr) bool {
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
func (r *ClientIP) Of(req *http.Request) string {
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

type clientIPKey struct{}

// Handle stores the client address in the request context for the logic.
func (r *ClientIP) Handle(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		next(w, req.WithContext(context.WithValue(req.Context(), clientIPKey{}, r.Of(req))))
	}
}

// ClientAddr returns the client address that ClientIP stored in ctx.
func ClientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey{}).(string)
	return s
}
