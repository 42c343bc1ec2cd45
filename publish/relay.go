package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

// RelayEndEvent is the name of the event that ends every relayed topic. Its data says why:
// {"reason": RelayDone | RelayUpstreamError | RelayCancelled | RelayPublishError}.
const RelayEndEvent = "end"

// Why a relay ended, as its end event and RelayResult.Reason say.
const (
	// RelayDone: the upstream sent its done marker ("[DONE]"), or ended where no marker is
	// expected (RelayDoneData("")).
	RelayDone = "done"
	// RelayUpstreamError: the upstream broke off, ended without its done marker, sent an
	// event too large or not parseable, or an event name that cannot be relayed (such as
	// "error", an upstream's own error event).
	RelayUpstreamError = "upstream-error"
	// RelayCancelled: the relay's context ended first.
	RelayCancelled = "cancelled"
	// RelayPublishError: Redis did not take an event; the end event may not have reached it
	// either.
	RelayPublishError = "publish-error"
)

var (
	// ErrUpstreamTruncated: the upstream ended without its done marker, so the answer may be
	// cut short.
	ErrUpstreamTruncated = errors.New("upstream ended without its done marker")
	// ErrUpstreamEventName: an upstream event carries a name that publish refuses (see
	// ValidEvent) or that is RelayEndEvent, which would end the topic early for its readers.
	ErrUpstreamEventName = errors.New("upstream event name cannot be relayed")
)

// RelayResult tells how a relay went.
type RelayResult struct {
	// Reason is why it ended, as in its end event (RelayDone, ...).
	Reason string
	// Events is how many upstream events were published, the end event not counted.
	Events int
	// LastID is the id of the last upstream event published, "" when none was.
	LastID string
	// EndID is the id of the end event, "" when it could not be published.
	EndID string
}

// RelayOption changes how Relay works.
type RelayOption func(*relayConfig)

type relayConfig struct {
	batchSize    int
	batchDelay   time.Duration
	doneData     string
	maxEventSize int
}

// Defaults of Relay.
const (
	DefaultRelayBatchSize    = 16
	DefaultRelayBatchDelay   = 20 * time.Millisecond
	DefaultRelayDoneData     = "[DONE]"
	DefaultRelayMaxEventSize = 64 << 10
)

// relayEndTimeout bounds the publishing of the end event (and what was read before it)
// once the relay's own context has ended.
const relayEndTimeout = 5 * time.Second

// RelayBatch publishes read events in batches of at most size, each sent at the latest
// delay after its first event was read (defaults 16 and 20 ms). A size of 1 publishes every
// event as soon as it is read.
func RelayBatch(size int, delay time.Duration) RelayOption {
	return func(c *relayConfig) {
		if size > 0 {
			c.batchSize = size
		}
		if delay > 0 {
			c.batchDelay = delay
		}
	}
}

// RelayDoneData sets the data of the upstream's last event, which is not published
// (default "[DONE]", as OpenAI-style APIs send). With "", the upstream's end of stream is
// its normal end; otherwise an end without the marker is an upstream error.
func RelayDoneData(marker string) RelayOption {
	return func(c *relayConfig) { c.doneData = marker }
}

// RelayMaxEventSize bounds one upstream event as read, in bytes (default 64 KiB); a larger
// one ends the relay as an upstream error.
func RelayMaxEventSize(n int) RelayOption {
	return func(c *relayConfig) {
		if n > 0 {
			c.maxEventSize = n
		}
	}
}

// RelayEnd is the end event of topic for reason, as Relay publishes it. A caller whose
// upstream failed before there was anything to relay (a refused request) publishes it
// itself, so the topic's readers learn the answer ended.
func RelayEnd(topic, reason string) Event {
	data, _ := json.Marshal(struct {
		Reason string `json:"reason"`
	}{reason}) // a struct of one string always marshals
	return Event{Topic: topic, Event: RelayEndEvent, Data: data}
}

// Relay reads an upstream Server-Sent Events stream from r, such as an LLM API answering
// with "stream": true, and publishes its events to topic in order, in small batches, then
// an end event (RelayEndEvent) saying why it ended. Readers of the topic resume across
// disconnects like on any topic, and a reader that comes late reads the answer from its
// first event, as long as the topic's history holds it.
//
// Each upstream event keeps its name ("message" when it has none); its data is published
// as it is when it is one JSON value (compacted), and as a JSON string otherwise. Events
// without data and the upstream's ids and retry fields are left out; the done marker
// (RelayDoneData) ends the relay and is not published.
//
// Relay returns when the upstream ends, fails, or ctx ends; the events read by then are
// published with the end event, within 5 s even after ctx ended. The error is nil when the
// upstream finished (RelayDone) and everything was published. When ctx ends, Relay returns
// without waiting for a pending read of r: make r end with ctx too (the body of an HTTP
// response to a request made with ctx does).
func (p *Publisher) Relay(ctx context.Context, topic string, r io.Reader, opts ...RelayOption) (RelayResult, error) {
	if !ValidTopic(topic) {
		return RelayResult{}, ErrInvalidTopic
	}
	cfg := relayConfig{
		batchSize: DefaultRelayBatchSize, batchDelay: DefaultRelayBatchDelay,
		doneData: DefaultRelayDoneData, maxEventSize: DefaultRelayMaxEventSize,
	}
	for _, o := range opts {
		o(&cfg)
	}
	rl := &relay{p: p, topic: topic, cfg: cfg}
	reason, err := rl.run(ctx, r)
	rl.res.Reason = reason

	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relayEndTimeout)
	defer cancel()
	if endErr := rl.publish(endCtx, RelayEnd(topic, reason)); endErr != nil {
		err = errors.Join(err, fmt.Errorf("end event: %w", endErr))
	}
	return rl.res, err
}

type relay struct {
	p     *Publisher
	topic string
	cfg   relayConfig
	batch []Event // read, not yet published
	res   RelayResult
}

// upstreamItem is what the reading goroutine hands over: an event, or the end (end set).
type upstreamItem struct {
	event  Event
	end    bool
	reason string
	err    error
}

// run publishes the upstream's events until it ends, and says why it ended. Events read but
// not yet published stay in rl.batch.
func (rl *relay) run(ctx context.Context, r io.Reader) (reason string, err error) {
	items := make(chan upstreamItem, rl.cfg.batchSize)
	stop := make(chan struct{})
	defer close(stop)
	go rl.read(r, items, stop)

	timer := time.NewTimer(rl.cfg.batchDelay)
	timer.Stop()
	defer timer.Stop()
	var due <-chan time.Time // the timer's channel while a batch waits on it
	for {
		select {
		case it := <-items:
			if it.end {
				return it.reason, it.err
			}
			rl.batch = append(rl.batch, it.event)
			if len(rl.batch) < rl.cfg.batchSize {
				if due == nil {
					timer.Reset(rl.cfg.batchDelay)
					due = timer.C
				}
				continue
			}
		case <-due:
		case <-ctx.Done():
			rl.take(items)
			return RelayCancelled, context.Cause(ctx)
		}
		timer.Stop()
		due = nil
		if err := rl.publish(ctx); err != nil {
			if ctx.Err() != nil {
				return RelayCancelled, context.Cause(ctx)
			}
			return RelayPublishError, err
		}
	}
}

// take adds the events already read to the batch, so that they are published with the end.
func (rl *relay) take(items <-chan upstreamItem) {
	for {
		select {
		case it := <-items:
			if it.end {
				return
			}
			rl.batch = append(rl.batch, it.event)
		default:
			return
		}
	}
}

// publish publishes the batch, then more (the end event). A failed batch is dropped, not
// sent again: part of it may have been published.
func (rl *relay) publish(ctx context.Context, more ...Event) error {
	events := append(rl.batch, more...)
	rl.batch = rl.batch[:0]
	if len(events) == 0 {
		return nil
	}
	ids, err := rl.p.PublishBatch(ctx, events)
	for i, id := range ids {
		if events[i].Event == RelayEndEvent {
			rl.res.EndID = id
			continue
		}
		rl.res.Events++
		rl.res.LastID = id
	}
	if err != nil {
		return fmt.Errorf("relay to %s: %w", rl.topic, err)
	}
	return nil
}

// read parses r and hands its events over until the upstream ends, ending with one item
// that has end set, or until stop closes.
func (rl *relay) read(r io.Reader, items chan<- upstreamItem, stop <-chan struct{}) {
	send := func(it upstreamItem) bool {
		select {
		case items <- it:
			return true
		case <-stop:
			return false
		}
	}
	upstreamErr := func(err error) upstreamItem {
		return upstreamItem{end: true, reason: RelayUpstreamError, err: fmt.Errorf("relay to %s: %w", rl.topic, err)}
	}
	rr := &readErrReader{r: r}
	for ev, err := range sse.Read(rr, &sse.ReadConfig{MaxEventSize: rl.cfg.maxEventSize}) {
		switch {
		case err != nil:
			if rr.err != nil {
				// The parser reports a read error as the event it cut short.
				err = rr.err
			}
			send(upstreamErr(fmt.Errorf("read upstream: %w", err)))
			return
		case ev.Data == "":
			// As in a browser: an event without data is not dispatched.
			continue
		case rl.cfg.doneData != "" && ev.Data == rl.cfg.doneData:
			send(upstreamItem{end: true, reason: RelayDone})
			return
		}
		e, err := rl.event(ev)
		if err != nil {
			send(upstreamErr(err))
			return
		}
		if !send(upstreamItem{event: e}) {
			return
		}
	}
	if rl.cfg.doneData != "" {
		send(upstreamErr(ErrUpstreamTruncated))
		return
	}
	send(upstreamItem{end: true, reason: RelayDone})
}

// readErrReader keeps the first error other than EOF that reading r returned.
type readErrReader struct {
	r   io.Reader
	err error
}

func (e *readErrReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// event is the event published for ev.
func (rl *relay) event(ev sse.Event) (Event, error) {
	name := ev.Type
	if name == "" {
		name = DefaultEvent
	}
	if !ValidEvent(name) || name == RelayEndEvent {
		if len(name) > MaxEventLen {
			name = name[:MaxEventLen] + "..."
		}
		return Event{}, fmt.Errorf("%w: %q", ErrUpstreamEventName, name)
	}
	var data bytes.Buffer
	if err := json.Compact(&data, []byte(ev.Data)); err != nil {
		data.Reset()
		// Not JSON: the service's events carry JSON, so the text goes as a JSON string
		// (invalid UTF-8 becomes U+FFFD). Marshalling a string cannot fail.
		b, _ := json.Marshal(ev.Data)
		data.Write(b)
	}
	return Event{Topic: rl.topic, Event: name, Data: data.Bytes()}, nil
}
