// Package keywatch turns Redis keys that other services write, with no change on their side
// (a QR code's status, an order's state, a job's progress), into topics of the hub: key K is
// the topic "key:K". A "state" key (a string or a hash) is sent as its value, first on
// subscribe, then after every change; a "stream" key (a Redis Stream others XADD to) as its
// entries, resumable like sse-api's own topics.
//
// Changes are learnt from Redis keyspace notifications, one pattern subscription per
// instance and rule, on every master of a Cluster; only keys somebody on this instance
// watches are read, on the hub's readers, a burst of changes coalesced into one read. A
// link's goroutine reads its socket and tells the hub itself: one hand-off, to the reader.
// Notifications are at-most-once, so every watched key is read again whenever a
// subscription is (re)confirmed: a dropped link or a restarted Redis loses no final state.
// The embedded development Redis has no notifications: a hook on its command stream
// publishes them (embedded.go).
//
// The Watcher is the hub's broker.Source for these topics.
package keywatch

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/redisconn"
)

// Watcher watches the keys the hub asks it to, for one instance.
type Watcher struct {
	conf     Conf
	rules    Rules
	rdb      redis.UniversalClient
	prefix   string   // of a key's notification channel: "__keyspace@<db>__:"
	patterns []string // the distinct rule patterns, each one pattern subscription per node

	mu    sync.Mutex
	keys  map[string]*watched // watched keys, by name
	links map[string]*link    // notification links, by node address

	emu *emulator // the embedded Redis's notifications; nil with a real Redis
	// unchecked is set once a node refused CONFIG and that was logged.
	unchecked atomic.Bool
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// watched is a key that somebody on this instance watches.
type watched struct {
	rule    int
	changed func() // tells the hub to read the key again
	// event is the last notification about the key since its links were last
	// (re)subscribed: it tells how a key that is gone went.
	event string
	// A stream key's newest id and how many entries it had had then (entries-added), as
	// last read: the ordinal of that id, which tells exactly whether entries after it
	// were trimmed (see stream.go).
	newest eventid.ID
	added  int64
	// read is the id of the event a state key's last read made (see noteState).
	read eventid.ID
}

// The key watch's metrics (internal/metrics), their series resolved once.
var (
	stateReads    = metrics.KeyReads.WithLabelValues(KindState)
	streamReads   = metrics.KeyReads.WithLabelValues(KindStream)
	readErrors    = metrics.KeyErrors.WithLabelValues("read")
	stateEvents   = metrics.KeyEvents.WithLabelValues(StateEvent)
	deletedEvents = metrics.KeyEvents.WithLabelValues(DeletedEvent)
	entryEvents   = metrics.KeyEvents.WithLabelValues("entry")
	resetEvents   = metrics.KeyEvents.WithLabelValues("reset")
)

var _ broker.Source = (*Watcher)(nil)

// Start checks that Redis tells of key changes (see ensure), subscribes to the rules'
// notifications and returns the watcher; nil when no rule is configured.
func Start(ctx context.Context, conn *redisconn.Conn, conf Conf, db int) (*Watcher, error) {
	if len(conf.Keys) == 0 {
		return nil, nil
	}
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	conf = conf.withDefaults()
	w := &Watcher{
		conf:   conf,
		rules:  Rules(conf.Keys),
		rdb:    conn.Client,
		prefix: keyspacePrefix(db),
		keys:   map[string]*watched{},
		links:  map[string]*link{},
	}
	for _, r := range conf.Keys {
		if !slices.Contains(w.patterns, r.Pattern) {
			w.patterns = append(w.patterns, r.Pattern)
		}
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if conn.Embedded {
		w.emu = emulate(conn.EmbeddedServer(), db, conf.EmbeddedTick, w.matchesAny, w.resyncAll)
	} else if err := w.check(ctx, conn.Client); err != nil {
		w.Close()
		return nil, err
	}
	if err := w.follow(ctx, conn.Client); err != nil {
		w.Close()
		return nil, err
	}
	w.wg.Add(1)
	go w.watchdog()
	if conn.Embedded {
		logx.Infof("keywatch: %d rules; keyspace notifications emulated by the embedded Redis", len(conf.Keys))
	} else {
		logx.Infof("keywatch: %d rules; keyspace notifications (%s) followed on %d node(s)",
			len(conf.Keys), w.rules.classes(), w.linkCount())
	}
	return w, nil
}

// check runs ensure on every node: the master and its replicas, or every Cluster node.
func (w *Watcher) check(ctx context.Context, rdb redis.UniversalClient) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
			return w.ensure(ctx, node, node.Options().Addr)
		})
	}
	if err := w.ensure(ctx, rdb, nodeName(rdb)); err != nil {
		return err
	}
	return w.ensureReplicas(ctx, rdb)
}

// follow subscribes to the rules' notifications: on every master of a Cluster, and on the
// one server (or Sentinel's master) otherwise.
func (w *Watcher) follow(ctx context.Context, rdb redis.UniversalClient) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return w.followCluster(ctx, cc)
	}
	w.open(nodeName(rdb), rdb, nil, rdb.PSubscribe)
	return nil
}

// nodeName names the one server of a standalone or Sentinel client, for messages.
func nodeName(c redis.UniversalClient) string {
	if rc, ok := c.(*redis.Client); ok && rc.Options().Addr != "FailoverClient" {
		return rc.Options().Addr
	}
	return "the Sentinels' master"
}

// Close stops watching: the links, the Cluster refresh and the embedded emulation.
func (w *Watcher) Close() {
	w.cancel()
	w.mu.Lock()
	links := w.links
	w.links = map[string]*link{}
	metrics.WatchedKeys.Sub(float64(len(w.keys)))
	w.keys = map[string]*watched{}
	w.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	w.wg.Wait()
	if w.emu != nil {
		w.emu.stop()
	}
}

// Rules are the watch rules, for the access checks.
func (w *Watcher) Rules() Rules { return w.rules }

// Kind implements broker.Source.
func (w *Watcher) Kind(topic string) broker.Kind { return w.rules.kindOf(topic) }

// Watch implements broker.Source.
func (w *Watcher) Watch(topic string, changed func()) {
	key := strings.TrimPrefix(topic, TopicPrefix)
	rule := w.rules.Match(key)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keys[key] == nil {
		metrics.WatchedKeys.Inc()
	}
	w.keys[key] = &watched{rule: rule, changed: changed}
}

// Unwatch implements broker.Source.
func (w *Watcher) Unwatch(topic string) {
	key := strings.TrimPrefix(topic, TopicPrefix)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keys[key] != nil {
		metrics.WatchedKeys.Dec()
		delete(w.keys, key)
	}
}

// channels are the notification channels of the rules, one pattern each.
func (w *Watcher) channels() []string {
	out := make([]string, len(w.patterns))
	for i, p := range w.patterns {
		out[i] = w.prefix + p
	}
	return out
}

// notified handles one notification: a watched key is read again, once its rule's own
// pattern tells of it (a key matched by several patterns is told of once per pattern).
func (w *Watcher) notified(pattern, channel, event string) {
	key, ok := strings.CutPrefix(channel, w.prefix)
	if !ok {
		return
	}
	w.mu.Lock()
	k := w.keys[key]
	if k == nil || w.prefix+w.rules[k.rule].Pattern != pattern {
		w.mu.Unlock()
		return
	}
	k.event = event
	changed := k.changed
	w.mu.Unlock()
	changed()
}

// resync reads again every watched key of the pattern's rules: a notification link was
// (re)subscribed, and whatever changed while it was down was not told.
func (w *Watcher) resync(pattern string) {
	w.mu.Lock()
	var reread []func()
	for _, k := range w.keys {
		if pattern == "" || w.prefix+w.rules[k.rule].Pattern == pattern {
			k.event = "" // how a key went while the link was down is unknown
			reread = append(reread, k.changed)
		}
	}
	w.mu.Unlock()
	for _, changed := range reread {
		changed()
	}
}

func (w *Watcher) resyncAll() { w.resync("") }

// matchesAny reports whether a rule matches key.
func (w *Watcher) matchesAny(key string) bool { return w.rules.Match(key) >= 0 }

// lastEvent is the last notification about key since its links were (re)subscribed.
func (w *Watcher) lastEvent(key string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if k := w.keys[key]; k != nil {
		return k.event
	}
	return ""
}
