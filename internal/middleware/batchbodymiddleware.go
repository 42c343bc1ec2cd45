// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/publish"
)

type batchBodyKey struct{}

// BatchBodyFrom returns the events BatchBodyMiddleware read.
func BatchBodyFrom(ctx context.Context) ([]publish.Event, bool) {
	b, ok := ctx.Value(batchBodyKey{}).([]publish.Event)
	return b, ok
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
	return func(w http.ResponseWriter, r *http.Request) {
		events, err := readBatchBody(r.Body)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(nil))
		r.ContentLength = 0
		next(w, r.WithContext(context.WithValue(r.Context(), batchBodyKey{}, events)))
	}
}

func readBatchBody(r io.Reader) ([]publish.Event, error) {
	var raw struct {
		Events []struct {
			Topic string          `json:"topic"`
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		} `json:"events"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(&raw)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, apierr.TooLarge("request body is larger than the limit of a batch")
	case err != nil:
		return nil, apierr.BadRequest(`body must be {"events": [{"topic": "<topic>", "event": "<name, optional>", "data": <any JSON value>}, ...]}: ` + err.Error())
	case dec.More():
		return nil, apierr.BadRequest("body must hold one JSON object")
	}
	events := make([]publish.Event, len(raw.Events))
	for i, e := range raw.Events {
		events[i] = publish.Event{Topic: e.Topic, Event: e.Event}
		if len(e.Data) == 0 {
			continue // access.CheckBatch names it
		}
		var data bytes.Buffer
		if err := json.Compact(&data, e.Data); err != nil {
			return nil, apierr.BadRequest(fmt.Sprintf("event %d: data is not valid JSON", i))
		}
		events[i].Data = data.Bytes()
	}
	return events, nil
}
