package logic

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sseapi/sse-api/internal/access"
	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/publish"
)

// checkEvent checks an event as the HTTP publish route does, and returns its data
// compacted, as HTTP delivers it: a subscriber cannot tell which way an event came.
func checkEvent(caller auth.Identity, topic, event string, data []byte, maxPayload int64) ([]byte, error) {
	if !publish.ValidTopic(topic) {
		return nil, apierr.BadRequest("malformed topic: want [A-Za-z0-9_.:-]{1,128}")
	}
	if event != "" && !publish.ValidEvent(event) {
		return nil, apierr.BadRequest("malformed event name: want [A-Za-z0-9_.:-]{1,64}, not reset or error (the service's own)")
	}
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
	if !access.Publishable(topic) || !caller.CanPublish(topic) {
		return nil, apierr.Forbidden("not allowed to publish to this topic")
	}
	return compact.Bytes(), nil
}
