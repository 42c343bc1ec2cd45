package middleware

import (
	"net/http"
	"testing"
)

func TestOfBelievesOnlyTrustedProxies(t *testing.T) {
	r, err := NewClientIP([]string{"10.0.0.0/8", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		remote, xff, want string
	}{
		{"198.51.100.9:1234", "", "198.51.100.9"},
		{"198.51.100.9:1234", "1.2.3.4", "198.51.100.9"}, // not a trusted peer: header ignored
		{"10.1.2.3:80", "1.2.3.4", "1.2.3.4"},
		{"10.1.2.3:80", "6.6.6.6, 1.2.3.4, 10.9.9.9", "1.2.3.4"}, // right-most untrusted hop
		{"192.0.2.1:80", "garbage", "192.0.2.1"},
		{"10.1.2.3:80", "10.2.2.2", "10.2.2.2"}, // every hop trusted: the farthest one
		{"[::ffff:198.51.100.9]:1", "", "198.51.100.9"},
	}
	for _, c := range cases {
		req := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := r.Of(req); got != c.want {
			t.Errorf("Of(%s, %q) = %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	if _, err := NewClientIP([]string{"not-an-ip"}); err == nil {
		t.Fatal("bad proxy accepted")
	}
}
