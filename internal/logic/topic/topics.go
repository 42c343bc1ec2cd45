package topic

import (
	"fmt"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/publish"
)

// ReservedPrefix starts topics that only the service itself writes and that are read
// through their own routes: QR-login sessions ("qr:<id>") are bound to the browser that
// created them, which the topic routes cannot check.
const ReservedPrefix = "qr:"

func isReserved(topic string) bool {
	return len(topic) >= len(ReservedPrefix) && topic[:len(ReservedPrefix)] == ReservedPrefix
}

// cleanTopics checks the topics of a request: at least one, at most max, each well formed
// and not reserved. Repeats are dropped, order is kept.
func cleanTopics(topics []string, max int) ([]string, error) {
	if len(topics) == 0 {
		return nil, apierr.BadRequest("name at least one topic")
	}
	seen := make(map[string]bool, len(topics))
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if !publish.ValidTopic(t) {
			return nil, apierr.BadRequest(fmt.Sprintf("malformed topic %q: want [A-Za-z0-9_.:-]{1,128}", t))
		}
		if isReserved(t) {
			return nil, apierr.Forbidden(fmt.Sprintf("topic %q is reserved", t))
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) > max {
		return nil, apierr.BadRequest(fmt.Sprintf("at most %d topics per stream", max))
	}
	return out, nil
}
