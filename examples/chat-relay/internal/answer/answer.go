// Package answer asks the upstream model a question and relays its streamed answer to the
// answer's topic, where sse-api's readers follow it and resume after a drop.
package answer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/publish"
)

// TopicPrefix starts every answer's topic: chat:<32 hex digits>.
const TopicPrefix = "chat:"

// QuestionEvent is the first event of every answer's topic: {"question": ...}.
const QuestionEvent = "question"

var (
	// ErrBusy: MaxRunning answers are in progress.
	ErrBusy = errors.New("too many answers in progress; try again shortly")
	// ErrStopped: the service is shutting down.
	ErrStopped = errors.New("shutting down")
)

// Upstream is where answers come from: an OpenAI-compatible chat completions endpoint.
type Upstream struct {
	URL, APIKey, Model string
}

// Answerer runs answers, each in a goroutine of its own, at most MaxRunning at once.
type Answerer struct {
	pub      *publish.Publisher
	upstream Upstream
	client   *http.Client
	timeout  time.Duration
	slots    chan struct{}

	// base ends every answer at shutdown: each ends with reason "cancelled".
	base    context.Context
	stop    context.CancelFunc
	mu      sync.Mutex
	stopped bool
	running sync.WaitGroup
}

// New returns an Answerer publishing through pub.
func New(pub *publish.Publisher, up Upstream, timeout time.Duration, maxRunning int) *Answerer {
	base, stop := context.WithCancel(context.Background())
	return &Answerer{
		pub: pub, upstream: up, timeout: timeout,
		// The answer's own context bounds each request; no client timeout would allow a
		// long answer.
		client: &http.Client{},
		slots:  make(chan struct{}, maxRunning),
		base:   base, stop: stop,
	}
}

// Start opens a topic for an answer to question and starts the answer. The topic's first
// event, the question, is published before Start returns, so a reader that starts from the
// topic's beginning always finds the topic.
func (a *Answerer) Start(ctx context.Context, question string) (topic string, err error) {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return "", ErrStopped
	}
	select {
	case a.slots <- struct{}{}:
	default:
		a.mu.Unlock()
		return "", ErrBusy
	}
	a.running.Add(1)
	a.mu.Unlock()
	done := func() {
		<-a.slots
		a.running.Done()
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id) // crypto/rand never fails (Go 1.24+)
	topic = TopicPrefix + hex.EncodeToString(id)
	data, _ := json.Marshal(map[string]string{"question": question}) // a map of strings always marshals
	if _, err := a.pub.Publish(ctx, topic, QuestionEvent, data); err != nil {
		done()
		return "", err
	}
	go func() {
		defer done()
		a.answer(topic, question)
	}()
	return topic, nil
}

// Stop ends the answers in progress (each with its end event) and waits for them.
func (a *Answerer) Stop() {
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
	a.stop()
	a.running.Wait()
}

// answer relays the upstream's answer to topic. The topic's id is what lets one read it, so
// logs name the answer by its first 8 hex digits only.
func (a *Answerer) answer(topic, question string) {
	ctx, cancel := context.WithTimeout(a.base, a.timeout)
	defer cancel()
	short := topic[:len(TopicPrefix)+8] + "..."
	log := logx.WithContext(ctx).WithFields(logx.Field("answer", short))
	// Errors name the topic; logs name the answer.
	hide := func(err error) string { return strings.ReplaceAll(err.Error(), topic, short) }
	resp, err := a.ask(ctx, question)
	if err != nil {
		reason := publish.RelayUpstreamError
		if ctx.Err() != nil {
			reason = publish.RelayCancelled
		}
		log.Errorf("upstream: %s", hide(err))
		// Readers learn that the answer ended, as when the relay ends it.
		end := publish.RelayEnd(topic, reason)
		endCtx, cancelEnd := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancelEnd()
		if _, err := a.pub.Publish(endCtx, end.Topic, end.Event, end.Data); err != nil {
			log.Errorf("publish end: %s", hide(err))
		}
		return
	}
	defer resp.Body.Close()
	res, err := a.pub.Relay(ctx, topic, resp.Body)
	if err != nil {
		log.Errorf("relay ended (%s) after %d events: %s", res.Reason, res.Events, hide(err))
		return
	}
	log.Infof("relay ended (%s) after %d events", res.Reason, res.Events)
}

// ask sends the question and returns the upstream's streaming answer.
func (a *Answerer) ask(ctx context.Context, question string) (*http.Response, error) {
	body, _ := json.Marshal(map[string]any{ // maps of strings and bools always marshal
		"model":    a.upstream.Model,
		"stream":   true,
		"messages": []map[string]string{{"role": "user", "content": question}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.upstream.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if a.upstream.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+a.upstream.APIKey)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		resp.Body.Close()
		return nil, fmt.Errorf("status %d, Content-Type %q", resp.StatusCode, ct)
	}
	return resp, nil
}
