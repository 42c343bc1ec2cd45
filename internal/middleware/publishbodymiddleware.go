// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
)

// PublishBody is the body of a publish request.
type PublishBody struct {
	Event string
	// Data is the published JSON value, compacted, with its keys and escapes as sent.
	Data []byte
}

type publishBodyKey struct{}

// PublishBodyFrom returns the body PublishBodyMiddleware read.
func PublishBodyFrom(ctx context.Context) (PublishBody, bool) {
	b, ok := ctx.Value(publishBodyKey{}).(PublishBody)
	return b, ok
}

// PublishBodyMiddleware reads {"event": ..., "data": <any JSON value>} with encoding/json:
// go-zero's request mapping cannot hold an arbitrary JSON value (it refuses arrays, strings
// and numbers in an interface field, and turns numbers in maps into strings).
type PublishBodyMiddleware struct {
}

func NewPublishBodyMiddleware() *PublishBodyMiddleware {
	return &PublishBodyMiddleware{}
}

func (m *PublishBodyMiddleware) Handle(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readPublishBody(r.Body)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}
		// The generated handler parses the request again for its path parameters.
		r.Body = io.NopCloser(bytes.NewReader(nil))
		r.ContentLength = 0
		next(w, r.WithContext(context.WithValue(r.Context(), publishBodyKey{}, body)))
	}
}

func readPublishBody(r io.Reader) (PublishBody, error) {
	var raw struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(&raw)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return PublishBody{}, apierr.TooLarge("request body is larger than the limit")
	case err != nil:
		return PublishBody{}, apierr.BadRequest(`body must be {"event": "<name, optional>", "data": <any JSON value>}: ` + err.Error())
	case dec.More():
		return PublishBody{}, apierr.BadRequest("body must hold one JSON object")
	case len(raw.Data) == 0:
		return PublishBody{}, apierr.BadRequest(`"data" is required`)
	}
	var data bytes.Buffer
	if err := json.Compact(&data, raw.Data); err != nil {
		return PublishBody{}, apierr.BadRequest("data is not valid JSON")
	}
	return PublishBody{Event: raw.Event, Data: data.Bytes()}, nil
}
