package keywatch

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"
)

// link is one pattern subscription to a node's keyspace notifications. go-redis reconnects
// it and subscribes it again by itself; each confirmation has the watched keys read again.
type link struct {
	addr   string
	node   redis.Cmdable // where the node's notify-keyspace-events is checked
	client *redis.Client // Cluster: the node client it was made from; nil otherwise
	ps     *redis.PubSub
	done   chan struct{}
}

// open starts reading a link. w.mu must not be held.
func (w *Watcher) open(addr string, node redis.Cmdable, client *redis.Client, ps *redis.PubSub) {
	l := &link{addr: addr, node: node, client: client, ps: ps, done: make(chan struct{})}
	w.mu.Lock()
	if w.ctx.Err() != nil { // closed meanwhile
		w.mu.Unlock()
		_ = ps.Close()
		return
	}
	w.links[addr] = l
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer close(l.done)
		w.read(l)
	}()
}

func (l *link) close() {
	_ = l.ps.Close()
	<-l.done
}

// read is the only reader of a link.
func (w *Watcher) read(l *link) {
	ch := l.ps.ChannelWithSubscriptions(redis.WithChannelSize(4096))
	first := w.prefix + w.patterns[0]
	for raw := range ch {
		switch m := raw.(type) {
		case *redis.Subscription:
			if m.Kind != "psubscribe" {
				continue
			}
			if m.Channel == first && w.emu == nil {
				// A new master (after a failover) may lack the setting: check it, and set
				// it if allowed, before reading, so that nothing changes unseen after the read.
				if err := w.ensure(w.ctx, l.node, l.addr); err != nil && w.ctx.Err() == nil {
					logx.Errorf("keywatch: %v; changes to watched keys on it are not seen", err)
				}
			}
			w.resync(m.Channel)
		case *redis.Message:
			w.notified(m.Pattern, m.Channel, m.Payload)
		}
	}
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
		w.open(addr, node, node, node.PSubscribe(w.ctx, w.channels()...))
	}
	return nil
}
