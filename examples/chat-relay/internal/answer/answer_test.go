package answer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/examples/chat-relay/internal/answer"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/fakemodel"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

type entry struct{ event, data string }

// waitEnd waits for topic's end event and returns the topic's events.
func waitEnd(t *testing.T, rdb redis.UniversalClient, topic string) []entry {
	t.Helper()
	var out []entry
	redistest.WaitFor(t, 10*time.Second, "the end of "+topic, func() error {
		xs, err := rdb.XRange(context.Background(), publish.StreamKey(topic), "-", "+").Result()
		if err != nil {
			return err
		}
		out = out[:0]
		for _, x := range xs {
			out = append(out, entry{x.Values["e"].(string), x.Values["d"].(string)})
		}
		if len(out) == 0 || out[len(out)-1].event != publish.RelayEndEvent {
			return fmt.Errorf("%d events, no end yet", len(out))
		}
		return nil
	})
	return out
}

// text is the answer the topic's chunks spell, and the end's reason.
func text(t *testing.T, events []entry) (answerText, reason string) {
	t.Helper()
	if events[0].event != answer.QuestionEvent {
		t.Fatalf("first event %+v, want the question", events[0])
	}
	var b strings.Builder
	for _, e := range events[1 : len(events)-1] {
		var c struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if e.event != publish.DefaultEvent || json.Unmarshal([]byte(e.data), &c) != nil || len(c.Choices) != 1 {
			t.Fatalf("not a chunk: %+v", e)
		}
		b.WriteString(c.Choices[0].Delta.Content)
	}
	var end struct{ Reason string }
	_ = json.Unmarshal([]byte(events[len(events)-1].data), &end)
	return b.String(), end.Reason
}

func setUp(t *testing.T, h http.Handler, maxRunning int) (*answer.Answerer, redis.UniversalClient) {
	up := httptest.NewServer(h)
	t.Cleanup(up.Close)
	rdb := redistest.Client(t)
	a := answer.New(publish.New(rdb, publish.Options{}), answer.Upstream{URL: up.URL, Model: "m"}, time.Minute, maxRunning)
	t.Cleanup(a.Stop)
	return a, rdb
}

func TestAnAnswerIsRelayedToItsTopic(t *testing.T) {
	a, rdb := setUp(t, fakemodel.Handler{TokenDelay: time.Millisecond}, 4)
	topic, err := a.Start(context.Background(), "count to 12")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(topic, "chat:") || len(topic) != len("chat:")+32 || !publish.ValidTopic(topic) {
		t.Fatalf("topic %q, want chat:<32 hex digits>", topic)
	}
	got, reason := text(t, waitEnd(t, rdb, topic))
	if want := strings.Join(fakemodel.Tokens("count to 12"), ""); got != want || reason != publish.RelayDone {
		t.Fatalf("answer %q (%s), want %q (done)", got, reason, want)
	}
	if got != "Counting to 12: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12." {
		t.Fatalf("the fake model counts wrong: %q", got)
	}
}

func TestAnUpstreamThatBreaksOffEndsTheAnswerAsAnUpstreamError(t *testing.T) {
	a, rdb := setUp(t, fakemodel.Handler{TokenDelay: time.Millisecond}, 4)
	topic, err := a.Start(context.Background(), "count to 10 and fail")
	if err != nil {
		t.Fatal(err)
	}
	got, reason := text(t, waitEnd(t, rdb, topic))
	tokens := fakemodel.Tokens("count to 10")
	if want := strings.Join(tokens[:len(tokens)/2], ""); got != want || reason != publish.RelayUpstreamError {
		t.Fatalf("answer %q (%s), want %q (upstream-error)", got, reason, want)
	}
}

func TestARefusingUpstreamEndsTheAnswerAsAnUpstreamError(t *testing.T) {
	a, rdb := setUp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"rate limited"}}`, http.StatusTooManyRequests)
	}), 4)
	topic, err := a.Start(context.Background(), "count to 3")
	if err != nil {
		t.Fatal(err)
	}
	events := waitEnd(t, rdb, topic)
	if got, reason := text(t, events); got != "" || len(events) != 2 || reason != publish.RelayUpstreamError {
		t.Fatalf("events %+v, want the question and the end (upstream-error)", events)
	}
}

func TestAnswersBeyondMaxRunningAreRefusedAndStopCancelsTheRest(t *testing.T) {
	a, rdb := setUp(t, fakemodel.Handler{TokenDelay: time.Hour}, 1)
	topic, err := a.Start(context.Background(), "count to 3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Start(context.Background(), "count to 3"); !errors.Is(err, answer.ErrBusy) {
		t.Fatalf("second answer: %v, want %v", err, answer.ErrBusy)
	}
	a.Stop()
	if _, reason := text(t, waitEnd(t, rdb, topic)); reason != publish.RelayCancelled {
		t.Fatalf("an answer stopped at shutdown ended with %q, want cancelled", reason)
	}
	if _, err := a.Start(context.Background(), "count to 3"); !errors.Is(err, answer.ErrStopped) {
		t.Fatalf("after Stop: %v, want %v", err, answer.ErrStopped)
	}
}
