// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/publish"
)

// BatchBodyFrom returns the events BatchBodyMiddleware read.
func BatchBodyFrom(ctx context.Context) ([]publish.Event, bool) {
	return bodyFrom[[]publish.Event](ctx)
}

// BatchBodyMiddleware reads the body of a batch publish, {"events": [{"topic": ..., "event":
// ..., "data": <any JSON value>}, ...]}, with encoding/json, as PublishBodyMiddleware reads
// a single one. The body arrives bounded in size (BodyLimitByPath) and in time (Edge); the
// events are checked by the logic (access.CheckBatch).
type BatchBodyMiddleware struct {
}

func NewBatchBodyMiddleware() *BatchBodyMiddleware {
	return &BatchBodyMiddleware{}
}

func (m *BatchBodyMiddleware) Handle(next http.HandlerFunc) http.HandlerFunc {
	return withBody(readBatchBody, next)
}

func readBatchBody(r io.Reader) ([]publish.Event, error) {
	var raw struct {
		Events []struct {
			Topic string          `json:"topic"`
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		} `json:"events"`
	}
	if err := decodeJSONBody(r, &raw,
		`{"events": [{"topic": "<topic>", "event": "<name, optional>", "data": <any JSON value>}, ...]}`,
		"request body is larger than the limit of a batch"); err != nil {
		return nil, err
	}
	events := make([]publish.Event, len(raw.Events))
	for i, e := range raw.Events {
		events[i] = publish.Event{Topic: e.Topic, Event: e.Event}
		if len(e.Data) == 0 {
			continue // access.CheckBatch names it
		}
		data, err := compactJSON(e.Data)
		if err != nil {
			return nil, apierr.BadRequest(fmt.Sprintf("event %d: data is not valid JSON", i))
		}
		events[i].Data = data
	}
	return events, nil
}
