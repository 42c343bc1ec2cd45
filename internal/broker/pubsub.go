package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/publish"
)

// The hub's pub/sub connections ("links"). With a standalone server or Sentinel there is one
// link, with classic SUBSCRIBE. In a Redis Cluster, topics are announced with SPUBLISH
// (publish.Sharded) and each channel must be subscribed with SSUBSCRIBE on the master serving
// its slot, so there is one link per such master. go-redis v9's ClusterClient.SSubscribe does
// not do this: its PubSub is one connection, to the master of the first channel's slot;
// channels of other masters get MOVED, and after a reconnect it sends every channel in one
// SSUBSCRIBE, which Redis refuses (CROSSSLOT) unless they share a slot.
//
// A link owns one go-redis PubSub at a time and never lets go-redis restore its
// subscriptions: on any error it drops the PubSub, waits a little, and makes a new one on
// which it subscribes every channel it holds, one SSUBSCRIBE per channel. Redis confirms
// each subscription; the confirmation, not the command, tells the hub that a topic's
// announcements flow again, and the hub then reads what it missed (onSubscribed).
//
// A channel's slot moves to another master (a failover, a resharding):
//   - gracefully: the old master unsubscribes its clients from the slot's channels (an
//     sunsubscribe nobody asked for); the channels are placed again once the slot map says
//     where the slot went;
//   - by a crash: the link's connection fails; every failure has the client reload the slot
//     map and moves the link's channels whose slot is now served elsewhere.
//
// A link that answers nothing for three PingIntervals, pings included, is dropped and made
// again (a hung or unreachable server keeps a TCP connection open).

// linkEvent is what a link read: an announcement on channel, or the confirmation that the
// subscription to channel is in effect, after the first subscription and after every
// reconnection.
type linkEvent struct {
	channel    string
	payload    string
	subscribed bool
}

// Reconnection delays of a link: from linkRetryMin, doubling per failure, at most
// linkRetryMax, from half to all of that at random.
const (
	linkRetryMin = 50 * time.Millisecond
	linkRetryMax = time.Second
)

// links holds a hub's pub/sub links. Channels are placed, moved and removed by one goroutine
// (run), so that they are never subscribed twice or lost between two links.
type links struct {
	rdb     redis.UniversalClient
	cluster *redis.ClusterClient // nil: one link, classic pub/sub
	ping    time.Duration
	events  chan linkEvent
	// troubles carries, from the links to run, what must be placed again.
	troubles chan trouble
	stop     chan struct{}
	wg       sync.WaitGroup

	mu       sync.Mutex
	shut     bool
	nodes    map[string]*link    // by node address; "" for the classic link
	where    map[string]*link    // channel -> the link holding it
	unplaced map[string]struct{} // channels waiting for the slot map to say where they go
	// dropped remembers which node unsubscribed a channel of its own accord, and when: until
	// the slot map stops naming that node (or slotMoveWait passes), the channel waits rather
	// than go back to it, where it would land on a replica that serves it no more.
	dropped map[string]droppedBy
}

type droppedBy struct {
	addr string
	at   time.Time
}

// slotMoveWait bounds how long a channel refuses the node that dropped it: past it, the slot
// may well have moved back.
const slotMoveWait = 5 * time.Second

// errStaleSlotMap: the slot map still names the node that dropped the channel.
var errStaleSlotMap = errors.New("slot map not yet reloaded")

// trouble is a link's report: its connection failed (moved nil), or Redis unsubscribed
// these channels of its own accord (their slot moved).
type trouble struct {
	link  *link
	moved []string
}

func newLinks(rdb redis.UniversalClient, ping time.Duration) *links {
	ls := &links{
		rdb: rdb, ping: ping,
		events:   make(chan linkEvent, 4096),
		troubles: make(chan trouble, 64),
		stop:     make(chan struct{}),
		nodes:    map[string]*link{},
		where:    map[string]*link{},
		unplaced: map[string]struct{}{},
		dropped:  map[string]droppedBy{},
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok && publish.Sharded(rdb) {
		ls.cluster = cc
	} else {
		// One link, connected from the start, so that LinkUp tells whether Redis answers
		// even before the first topic.
		ls.nodes[""] = ls.startLink("", rdb)
	}
	ls.wg.Add(1)
	go ls.watchdog()
	return ls
}

// run applies the hub's subscription decisions in order, and places channels again when
// links report trouble, until stop is closed.
func (ls *links) run(ops <-chan subOp) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	armed, delay := false, linkRetryMin
	for {
		select {
		case <-ls.stop:
			retry.Stop()
			return
		case op := <-ops:
			if op.subscribe {
				ls.subscribe(op.channel)
			} else {
				ls.unsubscribe(op.channel)
			}
		case tr := <-ls.troubles:
			ls.replace(tr)
		case <-retry.C:
			armed = false
			ls.placeUnplaced()
		}
		ls.mu.Lock()
		waiting := len(ls.unplaced) > 0
		ls.mu.Unlock()
		switch {
		case waiting && !armed:
			retry.Reset(jitter(delay))
			armed, delay = true, min(2*delay, linkRetryMax)
		case !waiting:
			delay = linkRetryMin
		}
	}
}

func (ls *links) subscribe(channel string) {
	if ls.cluster == nil {
		ls.nodes[""].add(channel)
		return
	}
	ls.place(channel)
}

func (ls *links) unsubscribe(channel string) {
	if ls.cluster == nil {
		ls.nodes[""].remove(channel, true)
		return
	}
	ls.mu.Lock()
	delete(ls.unplaced, channel)
	delete(ls.dropped, channel)
	l := ls.where[channel]
	delete(ls.where, channel)
	ls.mu.Unlock()
	if l != nil {
		l.remove(channel, true)
		ls.closeIfEmpty(l)
	}
}

// place subscribes channel on the link to the master of its slot, as the client's slot map
// has it; when the map cannot be had, channel waits in unplaced.
func (ls *links) place(channel string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	node, err := ls.cluster.MasterForKey(ctx, channel)
	cancel()
	ls.mu.Lock()
	if ls.shut {
		ls.mu.Unlock()
		return
	}
	addr := ""
	if err == nil {
		addr = node.Options().Addr
	}
	if d, ok := ls.dropped[channel]; ok && err == nil && d.addr == addr && time.Since(d.at) < slotMoveWait {
		err = errStaleSlotMap
	}
	if err != nil {
		ls.unplaced[channel] = struct{}{}
		ls.mu.Unlock()
		if err == errStaleSlotMap {
			ls.cluster.ReloadState(context.Background())
		}
		return
	}
	delete(ls.unplaced, channel)
	delete(ls.dropped, channel)
	l := ls.nodes[addr]
	if l == nil {
		l = ls.startLink(addr, node)
		ls.nodes[addr] = l
	}
	ls.where[channel] = l
	ls.mu.Unlock()
	l.add(channel)
}

func (ls *links) placeUnplaced() {
	ls.mu.Lock()
	channels := make([]string, 0, len(ls.unplaced))
	for ch := range ls.unplaced {
		channels = append(channels, ch)
	}
	ls.mu.Unlock()
	for _, ch := range channels {
		ls.place(ch)
	}
}

// replace acts on a link's trouble (Cluster only: the classic link reconnects where the
// client says the server is). The slot map is reloaded in the background; channels whose
// slot moved wait for it in unplaced, and channels of a failed link whose slot is now
// served by another master move there.
func (ls *links) replace(tr trouble) {
	if ls.cluster == nil {
		return
	}
	ls.cluster.ReloadState(context.Background())
	l := tr.link
	if tr.moved != nil {
		ls.mu.Lock()
		for _, ch := range tr.moved {
			if ls.where[ch] == l {
				delete(ls.where, ch)
				ls.unplaced[ch] = struct{}{}
				ls.dropped[ch] = droppedBy{addr: l.addr, at: time.Now()}
				l.remove(ch, false)
			}
		}
		ls.mu.Unlock()
		ls.closeIfEmpty(l)
		return
	}
	for _, ch := range l.channels() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		node, err := ls.cluster.MasterForKey(ctx, ch)
		cancel()
		if err != nil {
			continue
		}
		if node.Options().Addr != l.addr {
			ls.mu.Lock()
			moved := ls.where[ch] == l
			if moved {
				delete(ls.where, ch)
			}
			ls.mu.Unlock()
			if moved {
				l.remove(ch, false)
				ls.place(ch)
			}
		} else {
			l.setClient(node) // go-redis may have replaced the node's client
		}
	}
	ls.closeIfEmpty(l)
}

// closeIfEmpty closes a Cluster link that holds no channel any more.
func (ls *links) closeIfEmpty(l *link) {
	ls.mu.Lock()
	empty := l.empty()
	if empty && ls.nodes[l.addr] == l {
		delete(ls.nodes, l.addr)
	}
	ls.mu.Unlock()
	if empty {
		l.close()
	}
}

// up reports whether every channel is subscribed, confirmed by Redis since its link last
// (re)connected, and the classic link, when there is one, answers.
func (ls *links) up() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.shut || len(ls.unplaced) > 0 {
		return false
	}
	for _, l := range ls.nodes {
		if !l.up() {
			return false
		}
	}
	return true
}

// close stops run (the caller waits for it), every link and the watchdog.
func (ls *links) close() {
	ls.mu.Lock()
	if ls.shut {
		ls.mu.Unlock()
		return
	}
	ls.shut = true
	all := make([]*link, 0, len(ls.nodes))
	for _, l := range ls.nodes {
		all = append(all, l)
	}
	ls.mu.Unlock()
	close(ls.stop)
	for _, l := range all {
		l.close()
	}
	ls.wg.Wait()
}

// report hands a link's trouble to run.
func (ls *links) report(tr trouble) {
	select {
	case ls.troubles <- tr:
	case <-ls.stop:
	}
}

// watchdog pings links that heard nothing for a PingInterval and drops those that heard
// nothing for three.
func (ls *links) watchdog() {
	defer ls.wg.Done()
	tick := time.NewTicker(ls.ping)
	defer tick.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-tick.C:
		}
		ls.mu.Lock()
		all := make([]*link, 0, len(ls.nodes))
		for _, l := range ls.nodes {
			all = append(all, l)
		}
		ls.mu.Unlock()
		for _, l := range all {
			l.check(ls.ping)
		}
	}
}

// link is one pub/sub connection, to one Redis node (or to the server, for classic pub/sub),
// and the channels it holds.
type link struct {
	ls      *links
	addr    string // "" for the classic link
	sharded bool
	stop    chan struct{}

	// lastHeard is when the link last heard from Redis, or began to listen (Unix ns);
	// listening says it is waiting for Redis rather than handing an event to the hub.
	lastHeard atomic.Int64
	listening atomic.Bool
	heard     atomic.Bool  // Redis answered on the current connection
	downSince atomic.Int64 // when the link went down (Unix ns); 0 while up

	mu      sync.Mutex
	client  redis.UniversalClient
	ps      *redis.PubSub // the current connection; nil while it is being made again
	closed  bool
	want    map[string]struct{}
	pending map[string]int // subscriptions sent on ps that Redis did not confirm yet
	ours    map[string]int // unsubscriptions sent on ps whose replies are to come
}

func (ls *links) startLink(addr string, client redis.UniversalClient) *link {
	l := &link{
		ls: ls, addr: addr, sharded: addr != "", client: client, stop: make(chan struct{}),
		want: map[string]struct{}{},
	}
	ls.wg.Add(1)
	go l.loop()
	return l
}

func (l *link) name() string {
	if l.addr == "" {
		return "pub/sub link"
	}
	return "shard pub/sub link to " + l.addr
}

// loop keeps a connection up: make it, read it until it fails, make it again.
func (l *link) loop() {
	defer l.ls.wg.Done()
	delay := linkRetryMin
	for {
		ps, err := l.connect()
		if ps == nil {
			return // closed
		}
		if err == nil {
			err = l.receive(ps)
		}
		wasUp := l.disconnect(ps)
		select {
		case <-l.stop:
			return
		default:
		}
		if wasUp {
			delay = linkRetryMin
		}
		if l.downSince.Load() == 0 {
			l.downSince.Store(time.Now().UnixNano())
			logx.Errorf("broker: %s down: %v; reconnecting", l.name(), err)
		}
		l.ls.report(trouble{link: l})
		select {
		case <-l.stop:
			return
		case <-time.After(jitter(delay)):
		}
		delay = min(2*delay, linkRetryMax)
	}
}

// noteBack logs the end of an outage once the link is up again.
func (l *link) noteBack() {
	since := l.downSince.Load()
	if since == 0 || !l.up() || !l.downSince.CompareAndSwap(since, 0) {
		return
	}
	logx.Infof("broker: %s back after %s", l.name(), time.Since(time.Unix(0, since)).Round(time.Millisecond))
}

// connect makes a new connection and subscribes every channel of the link on it; a PING
// follows, so that even a link without channels connects and hears from Redis. It returns
// a nil PubSub once the link is closed.
func (l *link) connect() (*redis.PubSub, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil
	}
	ctx := context.Background()
	var ps *redis.PubSub
	if l.sharded {
		ps = l.client.SSubscribe(ctx)
	} else {
		ps = l.client.Subscribe(ctx)
	}
	l.ps, l.pending, l.ours = ps, map[string]int{}, map[string]int{}
	l.heard.Store(false)
	l.lastHeard.Store(time.Now().UnixNano())
	channels := make([]string, 0, len(l.want))
	for ch := range l.want {
		channels = append(channels, ch)
	}
	if err := l.send(ps, true, channels); err != nil {
		return ps, err
	}
	return ps, ps.Ping(ctx)
}

// send subscribes (or unsubscribes) channels on ps and counts the confirmations to come.
// Shard channels go one per command, since one SSUBSCRIBE may only name channels of one
// slot. l.mu is held.
func (l *link) send(ps *redis.PubSub, subscribe bool, channels []string) error {
	ctx := context.Background()
	const chunk = 512
	for len(channels) > 0 {
		n := min(len(channels), chunk)
		if l.sharded {
			n = 1
		}
		batch := channels[:n]
		channels = channels[n:]
		var err error
		switch {
		case subscribe && l.sharded:
			err = ps.SSubscribe(ctx, batch...)
		case subscribe:
			err = ps.Subscribe(ctx, batch...)
		case l.sharded:
			err = ps.SUnsubscribe(ctx, batch...)
		default:
			err = ps.Unsubscribe(ctx, batch...)
		}
		if err != nil {
			return err
		}
		for _, ch := range batch {
			if subscribe {
				l.pending[ch]++
			} else {
				l.ours[ch]++
			}
		}
	}
	return nil
}

// receive reads ps until it fails. Any error ends the connection, a reply error included
// (MOVED: a channel's slot is served elsewhere; the next connection places it again).
func (l *link) receive(ps *redis.PubSub) error {
	ctx := context.Background()
	for {
		l.lastHeard.Store(time.Now().UnixNano())
		l.listening.Store(true)
		msg, err := ps.Receive(ctx)
		l.listening.Store(false)
		if err != nil {
			return err
		}
		l.heard.Store(true)
		switch m := msg.(type) {
		case *redis.Message:
			l.emit(linkEvent{channel: m.Channel, payload: m.Payload})
		case *redis.Subscription:
			l.onSubscription(m)
		}
		if l.downSince.Load() != 0 {
			l.noteBack()
		}
	}
}

func (l *link) onSubscription(m *redis.Subscription) {
	switch m.Kind {
	case "subscribe", "ssubscribe":
		l.mu.Lock()
		n := l.pending[m.Channel] - 1
		if n > 0 {
			l.pending[m.Channel] = n
		} else {
			delete(l.pending, m.Channel)
		}
		_, wanted := l.want[m.Channel]
		l.mu.Unlock()
		// The last of the subscriptions sent for it: the one in effect.
		if n <= 0 && wanted {
			l.emit(linkEvent{channel: m.Channel, subscribed: true})
		}
	case "unsubscribe", "sunsubscribe":
		l.mu.Lock()
		ours := l.ours[m.Channel] > 0
		if ours {
			if l.ours[m.Channel]--; l.ours[m.Channel] == 0 {
				delete(l.ours, m.Channel)
			}
		}
		_, wanted := l.want[m.Channel]
		l.mu.Unlock()
		if !ours && wanted {
			// Redis dropped a channel its node no longer serves the slot of.
			l.ls.report(trouble{link: l, moved: []string{m.Channel}})
		}
	}
}

func (l *link) emit(ev linkEvent) {
	select {
	case l.ls.events <- ev:
	case <-l.stop:
	}
}

// disconnect drops ps and reports whether it had come up.
func (l *link) disconnect(ps *redis.PubSub) bool {
	l.mu.Lock()
	wasUp := l.ps == ps && l.upLocked()
	if l.ps == ps {
		l.ps, l.pending, l.ours = nil, nil, nil
	}
	l.heard.Store(false)
	l.mu.Unlock()
	_ = ps.Close()
	return wasUp
}

// add subscribes channel now if connected, or with the next connection.
func (l *link) add(channel string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.want[channel] = struct{}{}
	if l.ps != nil {
		if err := l.send(l.ps, true, []string{channel}); err != nil {
			l.breakLocked(err)
		}
	}
}

// remove lets channel go; tell says whether to unsubscribe on the connection (not when
// Redis dropped it itself).
func (l *link) remove(channel string, tell bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.want, channel)
	if l.ps == nil {
		return
	}
	if !tell {
		delete(l.pending, channel)
		return
	}
	if err := l.send(l.ps, false, []string{channel}); err != nil {
		l.breakLocked(err)
	}
}

// breakLocked ends the current connection after a failed write; loop makes a new one.
func (l *link) breakLocked(err error) {
	if l.ps != nil && !l.closed {
		logx.Errorf("broker: %s: %v", l.name(), err)
		_ = l.ps.Close()
	}
}

func (l *link) channels() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.want))
	for ch := range l.want {
		out = append(out, ch)
	}
	return out
}

func (l *link) empty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.want) == 0
}

func (l *link) setClient(c redis.UniversalClient) {
	l.mu.Lock()
	l.client = c
	l.mu.Unlock()
}

func (l *link) up() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.upLocked()
}

func (l *link) upLocked() bool {
	return l.ps != nil && l.heard.Load() && len(l.pending) == 0
}

// check pings a link that heard nothing for ping, and drops a connection that heard nothing
// for three.
func (l *link) check(ping time.Duration) {
	if !l.listening.Load() {
		return // handing an event to the hub, or reconnecting
	}
	idle := time.Since(time.Unix(0, l.lastHeard.Load()))
	if idle < ping {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ps == nil || l.closed {
		return
	}
	if idle >= 3*ping {
		l.breakLocked(fmt.Errorf("no answer for %s", idle.Round(time.Millisecond)))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ping)
	defer cancel()
	if err := l.ps.Ping(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		l.breakLocked(err)
	}
}

func (l *link) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	ps := l.ps
	l.mu.Unlock()
	close(l.stop)
	if ps != nil {
		_ = ps.Close()
	}
}

// jitter is from half to all of d.
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
