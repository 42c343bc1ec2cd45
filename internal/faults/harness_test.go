package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sse "github.com/tmaxmax/go-sse"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/testinstance"
	"github.com/sseapi/sse-api/publish"
)

const secret = "faults-secret-0123456789"

var binary string

func TestMain(m *testing.M) { testinstance.Main(m.Run, raceBuild, &binary) }

// instance is one running sse-api process.
type instance struct {
	*testinstance.Instance
	Base, Dev string
}

// startInstances starts n instances with c (the secret, short retries and the name are
// filled in), one after the other: an instance picks free ports, which another one still
// starting might pick too.
func startInstances(t *testing.T, n int, c testinstance.Config) []*instance {
	t.Helper()
	c.Name, c.Secret, c.Retry = "sse-api-faults", secret, "100ms"
	var out []*instance
	for range n {
		inst, err := testinstance.Launch(binary, t.TempDir(), c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			inst.Kill()
			if inst.Raced() {
				t.Errorf("the race detector reported a race in sse-api:\n%s", inst.Logs)
			} else if t.Failed() {
				t.Logf("logs of %s:\n%s", inst.APIAddr, inst.Logs)
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err = inst.WaitReady(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &instance{Instance: inst, Base: "http://" + inst.APIAddr, Dev: "http://" + inst.DevAddr})
	}
	return out
}

func token(t *testing.T, uid string, pub, sub []string) string {
	t.Helper()
	tok, err := auth.NewTokens(secret).Sign(map[string]any{
		auth.ClaimUID: uid, auth.ClaimPublish: pub, auth.ClaimSubscribe: sub,
	}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var client = &http.Client{Timeout: 5 * time.Second}

// payload is what the publishers send and the readers check: the topic and a sequence number
// per topic.
type payload struct {
	T string `json:"t"`
	N int    `json:"n"`
}

// sent is one acknowledged publish.
type sent struct {
	n  int
	at time.Time // when the request was sent
}

// publishers publish to every topic, one goroutine per topic, through the instances in turn,
// every interval, until stopped. A publish is acknowledged when it is answered 201.
type publishers struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	acked   map[string][]sent
	refused map[string]int // answers other than 201, by status (or the error)
}

func startPublishers(t *testing.T, insts []*instance, tok string, topics []string, interval time.Duration) *publishers {
	p := &publishers{stop: make(chan struct{}), acked: map[string][]sent{}, refused: map[string]int{}}
	for _, topic := range topics {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-p.stop:
					return
				case <-tick.C:
				}
				body, _ := json.Marshal(map[string]any{"event": "e", "data": payload{topic, n}})
				req, _ := http.NewRequest(http.MethodPost, insts[n%len(insts)].Base+"/v1/topics/"+topic+"/events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				at := time.Now()
				resp, err := client.Do(req)
				outcome := ""
				if err != nil {
					outcome = "error"
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						outcome = fmt.Sprint(resp.StatusCode)
					}
				}
				p.mu.Lock()
				if outcome == "" {
					p.acked[topic] = append(p.acked[topic], sent{n, at})
				} else {
					p.refused[outcome]++
				}
				p.mu.Unlock()
			}
		}()
	}
	return p
}

func (p *publishers) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.acked {
		n += len(a)
	}
	return n
}

// waitAcked waits until n more publishes were acknowledged.
func (p *publishers) waitAcked(t *testing.T, n int) {
	t.Helper()
	want := p.count() + n
	redistest.WaitFor(t, 30*time.Second, fmt.Sprintf("%d publishes acknowledged", want), func() error {
		if got := p.count(); got < want {
			return fmt.Errorf("%d acknowledged", got)
		}
		return nil
	})
}

func (p *publishers) halt() {
	close(p.stop)
	p.wg.Wait()
}

// reader follows one multi-topic stream as a browser does: when the stream ends or cannot
// be opened, it opens it again after a short wait with the Last-Event-ID it last saw.
type reader struct {
	url, tok string
	cancel   context.CancelFunc
	done     chan struct{}

	mu         sync.Mutex
	lastID     string
	got        map[string][]int             // topic -> sequence numbers in arrival order
	arrived    map[string]map[int]time.Time // topic -> n -> first arrival
	refusals   int                          // streams refused (error events, other statuses)
	reconnects int
	resets     int
	opened     chan struct{} // closed once the first stream told its position
}

func startReader(t *testing.T, inst *instance, tok string, topics []string) *reader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{
		url: inst.Base + "/v1/events?topic=" + strings.Join(topics, "&topic="), tok: tok,
		cancel: cancel, done: make(chan struct{}), got: map[string][]int{},
		arrived: map[string]map[int]time.Time{}, opened: make(chan struct{}),
	}
	go r.run(ctx)
	t.Cleanup(r.stop)
	select {
	case <-r.opened:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream never told its position")
	}
	return r
}

func (r *reader) stop() {
	r.cancel()
	<-r.done
}

func (r *reader) run(ctx context.Context) {
	defer close(r.done)
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			r.mu.Lock()
			r.reconnects++
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		r.follow(ctx)
	}
}

// follow reads one stream until it ends.
func (r *reader) follow(ctx context.Context) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+r.tok)
	r.mu.Lock()
	if r.lastID != "" {
		req.Header.Set("Last-Event-ID", r.lastID)
	}
	r.mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.mu.Lock()
		r.refusals++
		r.mu.Unlock()
		return
	}
	for ev, err := range sse.Read(resp.Body, nil) {
		if err != nil {
			return
		}
		now := time.Now()
		r.mu.Lock()
		if ev.LastEventID != "" {
			if r.lastID == "" {
				close(r.opened)
			}
			r.lastID = ev.LastEventID
		}
		switch {
		case ev.Type == "error":
			r.refusals++
		case ev.Type == "reset":
			r.resets++
		case ev.Data != "":
			var p payload
			if json.Unmarshal([]byte(ev.Data), &p) == nil {
				r.got[p.T] = append(r.got[p.T], p.N)
				if r.arrived[p.T] == nil {
					r.arrived[p.T] = map[int]time.Time{}
				}
				if _, seen := r.arrived[p.T][p.N]; !seen {
					r.arrived[p.T][p.N] = now
				}
			}
		}
		r.mu.Unlock()
	}
}

// has reports whether every acknowledged event arrived.
func (r *reader) has(acked map[string][]sent) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, a := range acked {
		for _, s := range a {
			if _, ok := r.arrived[topic][s.n]; !ok {
				return false
			}
		}
	}
	return true
}

// tally is what one fault did.
type tally struct {
	acked, streams, delivered, lost, duplicated, disordered int
	redisLost                                               int // acknowledged, and in no topic history afterwards
	keptLost                                                int // lost on a stream though Redis kept it
	extra                                                   int // delivered though the publish was not acknowledged (an answer lost)
	stall, maxDelay                                         time.Duration
	refused                                                 map[string]int
	streamRefusals, reconnects, resets                      int
	notes                                                   string // what else the fault measured
}

func (c tally) line(fault string) string {
	refused := 0
	var kinds []string
	for k, n := range c.refused {
		refused += n
		kinds = append(kinds, fmt.Sprintf("%s:%d", k, n))
	}
	return fmt.Sprintf("FAULT %-22s acked=%d streams=%d delivered=%d lost=%d duplicated=%d disordered=%d redis_lost=%d "+
		"stall=%s max_delay=%s refused=%d%v stream_refusals=%d reconnects=%d resets=%d%s",
		fault, c.acked, c.streams, c.delivered, c.lost, c.duplicated, c.disordered, c.redisLost,
		c.stall.Round(time.Millisecond), c.maxDelay.Round(time.Millisecond), refused, kinds,
		c.streamRefusals, c.reconnects, c.resets, c.notes)
}

// finish stops publishing, waits (bounded) until every reader has every acknowledged
// event, and counts. affected are the topics the fault touched (see stall); rdb reads the
// topics' histories.
func finish(t *testing.T, p *publishers, readers []*reader, rdb redis.UniversalClient, affected []string) tally {
	t.Helper()
	p.halt()
	p.mu.Lock()
	acked := p.acked
	refused := p.refused
	p.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for _, r := range readers {
		for !r.has(acked) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, r := range readers {
		r.stop()
	}

	c := tally{streams: len(readers), refused: refused}
	kept := map[string]map[int]bool{}
	for topic, a := range acked {
		c.acked += len(a)
		stored := map[int]bool{}
		entries, err := rdb.XRange(context.Background(), publish.StreamKey(topic), "-", "+").Result()
		if err != nil {
			t.Fatalf("history of %s: %v", topic, err)
		}
		for _, e := range entries {
			var pl payload
			if json.Unmarshal([]byte(e.Values["d"].(string)), &pl) == nil {
				stored[pl.N] = true
			}
		}
		kept[topic] = stored
		for _, s := range a {
			if !stored[s.n] {
				c.redisLost++
			}
		}
	}
	for _, r := range readers {
		c.streamRefusals += r.refusals
		c.reconnects += r.reconnects
		c.resets += r.resets
		for topic, a := range acked {
			ackedN := map[int]bool{}
			for _, s := range a {
				ackedN[s.n] = true
				if at, ok := r.arrived[topic][s.n]; ok {
					c.delivered++
					c.maxDelay = max(c.maxDelay, at.Sub(s.at))
				} else {
					c.lost++
					if kept[topic][s.n] {
						c.keptLost++
					}
				}
			}
			seen := map[int]bool{}
			last := -1
			for _, n := range r.got[topic] {
				if seen[n] {
					c.duplicated++
					continue
				}
				seen[n] = true
				if n < last {
					c.disordered++
				}
				last = n
				if !ackedN[n] {
					c.extra++
				}
			}
		}
	}
	c.stall = stall(readers, affected)
	return c
}

// stall is the longest time between two events of an affected topic arriving on a stream.
// Events are published every few milliseconds throughout, so it is how long the fault kept
// new events from streams: refused publishes, a pub/sub link being made again, a gap read.
func stall(readers []*reader, affected []string) time.Duration {
	var longest time.Duration
	for _, r := range readers {
		for _, topic := range affected {
			var prev time.Time
			for _, n := range r.got[topic] {
				at := r.arrived[topic][n]
				if !prev.IsZero() && at.Sub(prev) > longest {
					longest = at.Sub(prev)
				}
				prev = at
			}
		}
	}
	return longest
}

// ready probes an instance's readiness: /readyz where the service has it, /healthz
// otherwise.
func ready(inst *instance) (bool, error) {
	for _, path := range []string{"/readyz", "/healthz"} {
		resp, err := client.Get(inst.Dev + path)
		if err != nil {
			return false, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			continue
		}
		return resp.StatusCode == http.StatusOK, nil
	}
	return false, fmt.Errorf("%s has no readiness probe", inst.Dev)
}

// waitReady waits until every instance's readiness is want, and returns how long it took.
func waitReady(t *testing.T, insts []*instance, want bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	redistest.WaitFor(t, within, fmt.Sprintf("readiness %v", want), func() error {
		for _, inst := range insts {
			ok, err := ready(inst)
			if err != nil && want {
				return err
			}
			if ok != want {
				return fmt.Errorf("%s ready=%v", inst.DevAddr, ok)
			}
		}
		return nil
	})
	return time.Since(start)
}
