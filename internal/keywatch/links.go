package keywatch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/metrics"
)

// Reconnection delays of a link: from linkRetryMin, doubling per failure, at most
// linkRetryMax, from half to all of that at random (as the hub's own links).
const (
	linkRetryMin = 50 * time.Millisecond
	linkRetryMax = time.Second
)

// linkPing: a link that heard nothing for this long is pinged, and one that heard nothing
// for three times this long is made again (a hung server keeps its TCP connection open).
// A variable for the tests' sake.
var linkPing = 3 * time.Second

// psubscriber makes a pattern subscription: a client's PSubscribe.
type psubscriber func(ctx context.Context, patterns ...string) *redis.PubSub

// link is one node's pattern subscriptions to keyspace notifications, one per rule
// pattern. It reads its connection itself, so a notification goes from the socket to the
// hub on one goroutine, and it makes a new connection after any failure, never letting
// go-redis restore the subscriptions unseen: each pattern's confirmation on a new
// connection has its watched keys read again, and once every pattern is confirmed the
// link is up (Watcher.Ready).
type link struct {
	w      *Watcher
	addr   string
	node   redis.Cmdable // where the node's notify-keyspace-events is checked
	client *redis.Client // Cluster: the node client it was made from; nil otherwise
	sub    psubscriber
	stop   chan struct{}
	done   chan struct{}

	// lastHeard is when the link last heard from Redis, or began to listen (Unix ns);
	// listening says it waits for Redis rather than handling what it read.
	lastHeard atomic.Int64
	listening atomic.Bool
	downSince atomic.Int64 // when the link went down (Unix ns); 0 while up, or not yet up once

	mu        sync.Mutex
	ps        *redis.PubSub   // the current connection; nil between two
	confirmed map[string]bool // the patterns Redis confirmed on ps
	closed    bool
}

// open starts a link to a node. w.mu must not be held.
func (w *Watcher) open(addr string, node redis.Cmdable, client *redis.Client, sub psubscriber) {
	l := &link{
		w: w, addr: addr, node: node, client: client, sub: sub,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	w.mu.Lock()
	if w.ctx.Err() != nil { // closed meanwhile
		w.mu.Unlock()
		return
	}
	w.links[addr] = l
	w.mu.Unlock()
	metrics.KeyLinkUp.WithLabelValues(addr).Set(0)
	go l.loop()
}

// loop keeps a connection up: make it, read it until it fails, make it again.
func (l *link) loop() {
	defer close(l.done)
	delay := linkRetryMin
	for {
		ps := l.connect()
		if ps == nil {
			return // closed
		}
		err := l.receive(ps)
		wasUp := l.disconnect(ps)
		select {
		case <-l.stop:
			return
		default:
		}
		metrics.KeyErrors.WithLabelValues("link").Inc()
		if wasUp {
			delay = linkRetryMin
		}
		if l.downSince.Load() == 0 {
			l.downSince.Store(time.Now().UnixNano())
			logx.Errorf("keywatch: notification link to %s down: %v; reconnecting (watched keys are read again then)", l.addr, err)
		}
		select {
		case <-l.stop:
			return
		case <-time.After(jitter(delay)):
		}
		delay = min(2*delay, linkRetryMax)
	}
}

// connect makes a new connection subscribing every rule's pattern; nil once the link is
// closed. A failure to connect shows in the first Receive.
func (l *link) connect() *redis.PubSub {
	ps := l.sub(l.w.ctx, l.w.channels()...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = ps.Close()
		return nil
	}
	l.ps, l.confirmed = ps, map[string]bool{}
	l.lastHeard.Store(time.Now().UnixNano())
	return ps
}

// receive reads ps until it fails; a notification is handled right here.
func (l *link) receive(ps *redis.PubSub) error {
	for {
		l.lastHeard.Store(time.Now().UnixNano())
		l.listening.Store(true)
		msg, err := ps.Receive(l.w.ctx)
		l.listening.Store(false)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *redis.Message:
			metrics.KeyNotifications.Inc()
			l.w.notified(m.Pattern, m.Channel, m.Payload)
		case *redis.Subscription:
			if m.Kind == "psubscribe" {
				l.confirm(ps, m.Channel)
			}
		}
	}
}

// confirm handles the confirmation of a pattern's subscription on ps: whatever changed
// before it was not told, so the pattern's watched keys are read again.
func (l *link) confirm(ps *redis.PubSub, pattern string) {
	w := l.w
	if pattern == w.prefix+w.patterns[0] && w.emu == nil {
		// A new master (after a failover) may lack the setting: check it, and set it if
		// allowed, before reading, so that nothing changes unseen after the read.
		if err := w.ensure(w.ctx, l.node, l.addr); err != nil && w.ctx.Err() == nil {
			metrics.KeyErrors.WithLabelValues("config").Inc()
			logx.Errorf("keywatch: %v; changes to watched keys on it are not seen", err)
		}
	}
	l.mu.Lock()
	if l.ps == ps {
		l.confirmed[pattern] = true
	}
	up := l.upLocked()
	l.mu.Unlock()
	w.resync(pattern)
	if !up {
		return
	}
	metrics.KeyLinkUp.WithLabelValues(l.addr).Set(1)
	if since := l.downSince.Swap(0); since != 0 {
		logx.Infof("keywatch: notification link to %s back after %s", l.addr,
			time.Since(time.Unix(0, since)).Round(time.Millisecond))
	}
}

// disconnect drops ps and reports whether it had come up.
func (l *link) disconnect(ps *redis.PubSub) bool {
	l.mu.Lock()
	wasUp := l.ps == ps && l.upLocked()
	if l.ps == ps {
		l.ps, l.confirmed = nil, nil
	}
	l.mu.Unlock()
	_ = ps.Close()
	metrics.KeyLinkUp.WithLabelValues(l.addr).Set(0)
	return wasUp
}

func (l *link) up() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.upLocked()
}

func (l *link) upLocked() bool {
	return l.ps != nil && len(l.confirmed) == len(l.w.patterns)
}

// check pings a link that heard nothing for ping, and drops a connection that heard nothing
// for three: loop makes a new one.
func (l *link) check(ping time.Duration) {
	if !l.listening.Load() {
		return // handling what it read, or reconnecting
	}
	idle := time.Since(time.Unix(0, l.lastHeard.Load()))
	if idle < ping {
		return
	}
	l.mu.Lock()
	ps := l.ps
	if l.closed {
		ps = nil
	}
	l.mu.Unlock()
	if ps == nil {
		return
	}
	if idle >= 3*ping {
		logx.Errorf("keywatch: notification link to %s heard nothing for %s; reconnecting", l.addr, idle.Round(time.Millisecond))
		_ = ps.Close()
		return
	}
	ctx, cancel := context.WithTimeout(l.w.ctx, ping)
	defer cancel()
	if err := ps.Ping(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && l.w.ctx.Err() == nil {
		_ = ps.Close() // a failed write: the connection is gone
	}
}

// close stops the link and waits for its loop.
func (l *link) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return
	}
	l.closed = true
	ps := l.ps
	l.mu.Unlock()
	close(l.stop)
	if ps != nil {
		_ = ps.Close()
	}
	<-l.done
	metrics.KeyLinkUp.DeleteLabelValues(l.addr)
}

// watchdog checks every link each linkPing (see check).
func (w *Watcher) watchdog() {
	defer w.wg.Done()
	tick := time.NewTicker(linkPing)
	defer tick.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-tick.C:
		}
		w.mu.Lock()
		all := make([]*link, 0, len(w.links))
		for _, l := range w.links {
			all = append(all, l)
		}
		w.mu.Unlock()
		for _, l := range all {
			l.check(linkPing)
		}
	}
}

// Ready reports whether the watcher hears every node it must: each link has every rule's
// pattern subscription confirmed on its current connection. While one is down, changes on
// its node are not told (they are read once it is back).
func (w *Watcher) Ready() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.links) == 0 {
		return errors.New("keyspace notifications: no link")
	}
	var down []string
	for addr, l := range w.links {
		if !l.up() {
			down = append(down, addr)
		}
	}
	if len(down) == 0 {
		return nil
	}
	slices.Sort(down)
	return fmt.Errorf("keyspace notification link down: %v", down)
}

func (w *Watcher) linkCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.links)
}

// followCluster subscribes on every master, then, every Watch.TopologyRefresh, lists the
// masters again: notifications are per node, and after a failover or a resharding the
// keys are on other nodes.
func (w *Watcher) followCluster(ctx context.Context, cc *redis.ClusterClient) error {
	if err := w.refresh(ctx, cc); err != nil {
		return err
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(w.conf.TopologyRefresh)
		defer tick.Stop()
		failing := false
		for {
			select {
			case <-w.ctx.Done():
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(w.ctx, w.conf.TopologyRefresh)
			err := w.refresh(ctx, cc)
			cancel()
			switch {
			case err != nil && !failing && w.ctx.Err() == nil:
				logx.Errorf("keywatch: list the Cluster's masters: %v (retrying)", err)
			case err == nil && failing:
				logx.Info("keywatch: the Cluster's masters are listed again")
			}
			failing = err != nil
		}
	}()
	return nil
}

// refresh makes the links match the Cluster's masters: a link for each new one (its
// confirmation reads the watched keys again), none for a node that is no longer a master.
func (w *Watcher) refresh(ctx context.Context, cc *redis.ClusterClient) error {
	var mu sync.Mutex
	masters := map[string]*redis.Client{}
	err := cc.ForEachMaster(ctx, func(_ context.Context, node *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		masters[node.Options().Addr] = node
		return nil
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	if w.ctx.Err() != nil {
		w.mu.Unlock()
		return nil
	}
	var stale []*link
	for addr, l := range w.links {
		// A client go-redis replaced holds a closed pool: subscribe again through the new.
		if masters[addr] != l.client {
			stale = append(stale, l)
			delete(w.links, addr)
		}
	}
	var added []*redis.Client
	for addr, node := range masters {
		if w.links[addr] == nil {
			added = append(added, node)
		}
	}
	w.mu.Unlock()
	for _, l := range stale {
		logx.Infof("keywatch: %s is no longer a master: notifications from it are no longer followed", l.addr)
		l.close()
	}
	for _, node := range added {
		addr := node.Options().Addr
		logx.Infof("keywatch: following the keyspace notifications of the master %s", addr)
		w.open(addr, node, node, node.PSubscribe)
	}
	return nil
}

// jitter is from half to all of d.
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
