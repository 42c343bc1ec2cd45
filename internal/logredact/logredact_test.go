package logredact

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiJhIn0.c2lnbmF0dXJl"
	in := "authorize failed: token is expired\n=> POST /v1/x?ticket=abc123&topic=a HTTP/1.1\r\n" +
		"Authorization: Bearer " + jwt + "\r\nCookie: access_token=" + jwt + "; qr_binding=s3cr3t\r\n" +
		"Host: h\r\n\r\nbody with " + jwt + " and bearer xyz.abc"
	out := Redact(in)
	for _, secret := range []string{jwt, "abc123", "s3cr3t", "xyz.abc", "c2lnbmF0dXJl"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q survived:\n%s", secret, out)
		}
	}
	for _, kept := range []string{"topic=a", "Host: h", "POST /v1/x", "token is expired"} {
		if !strings.Contains(out, kept) {
			t.Errorf("%q was lost:\n%s", kept, out)
		}
	}
}

func TestURI(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/events?topic=a&ticket=s3cret":  "/v1/events?ticket=REDACTED&topic=a",
		"/v1/events?topic=a":                "/v1/events?topic=a",
		"/v1/events?Access_Token=x&token=y": "/v1/events?Access_Token=REDACTED&token=REDACTED",
		"/plain":                            "/plain",
		"/v1/events?ticket=%zz":             "/v1/events?<unparsable query redacted>",
	} {
		if got := URI(in); got != want {
			t.Errorf("URI(%q) = %q, want %q", in, got, want)
		}
	}
}
