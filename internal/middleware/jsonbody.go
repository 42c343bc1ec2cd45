package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
)

// bodyKey is where withBody puts what it read: one key a type, so each route's body has its own.
type bodyKey[T any] struct{}

// bodyFrom returns the T that withBody read.
func bodyFrom[T any](ctx context.Context) (T, bool) {
	v, ok := ctx.Value(bodyKey[T]{}).(T)
	return v, ok
}

// withBody reads the body with read before next runs, and answers read's error in the
// service's JSON shape instead of running next.
func withBody[T any](read func(io.Reader) (T, error), next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := read(r.Body)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}
		// The generated handler parses the request again for its path parameters.
		r.Body = io.NopCloser(bytes.NewReader(nil))
		r.ContentLength = 0
		next(w, r.WithContext(context.WithValue(r.Context(), bodyKey[T]{}, v)))
	}
}

// decodeJSONBody decodes one JSON object, with no unknown fields, from r into v. The body
// arrives bounded in size (BodyLimit) and in time (Edge): passing the size is a 413 with
// the message tooLarge, the time a 408, anything else a 400 that says the body must be shape.
func decodeJSONBody(r io.Reader, v any, shape, tooLarge string) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var maxBytes *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &maxBytes):
		return apierr.TooLarge(tooLarge)
	case errors.As(err, &netErr) && netErr.Timeout():
		return apierr.Parsing(err) // 408, as on the routes the generated handlers parse
	case err != nil:
		return apierr.BadRequest("body must be " + shape + ": " + err.Error())
	case dec.More():
		return apierr.BadRequest("body must hold one JSON object")
	}
	return nil
}

// compactJSON returns a JSON value as sent but for white space: keys, numbers and escapes
// are kept, which decoding and encoding again would change.
func compactJSON(raw json.RawMessage) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
