// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package middleware

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/sseapi/sse-api/internal/apierr"
)

// PublishBody is the body of a publish request.
type PublishBody struct {
	Event string
	// Data is the published JSON value, compacted, with its keys and escapes as sent.
	Data []byte
}

// PublishBodyFrom returns the body PublishBodyMiddleware read.
func PublishBodyFrom(ctx context.Context) (PublishBody, bool) {
	return bodyFrom[PublishBody](ctx)
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
	return withBody(readPublishBody, next)
}

func readPublishBody(r io.Reader) (PublishBody, error) {
	var raw struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if err := decodeJSONBody(r, &raw, `{"event": "<name, optional>", "data": <any JSON value>}`,
		"request body is larger than the limit"); err != nil {
		return PublishBody{}, err
	}
	if len(raw.Data) == 0 {
		return PublishBody{}, apierr.BadRequest(`"data" is required`)
	}
	data, err := compactJSON(raw.Data)
	if err != nil {
		return PublishBody{}, apierr.BadRequest("data is not valid JSON")
	}
	return PublishBody{Event: raw.Event, Data: data}, nil
}
