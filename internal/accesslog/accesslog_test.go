package accesslog

import "testing"

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/events?topic=a&ticket=s3cret":  "/v1/events?ticket=REDACTED&topic=a",
		"/v1/events?topic=a":                "/v1/events?topic=a",
		"/v1/events?Access_Token=x&token=y": "/v1/events?Access_Token=REDACTED&token=REDACTED",
		"/plain":                            "/plain",
		"/v1/events?ticket=%zz":             "/v1/events?<unparsable query redacted>",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
