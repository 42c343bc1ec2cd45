package logic

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sseapi/sse-api/internal/access"
	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
)

// checkEvent checks an event as the HTTP publish route does (its data as the PublishBody
// middleware does, then Access.CheckPublish), and returns its data compacted, as HTTP
// delivers it: a subscriber cannot tell which way an event came.
func checkEvent(a *access.Access, caller auth.Identity, topic, event string, data []byte, maxPayload int64) ([]byte, error) {
	if len(data) == 0 {
		return nil, apierr.BadRequest("data is required: one JSON value")
	}
	if int64(len(data)) > maxPayload {
		return nil, apierr.TooLarge(fmt.Sprintf("data is larger than Stream.MaxPayload, %d bytes", maxPayload))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, apierr.BadRequest("data is not one valid JSON value")
	}
	if err := a.CheckPublish(caller, topic, event); err != nil {
		return nil, err
	}
	return compact.Bytes(), nil
}
