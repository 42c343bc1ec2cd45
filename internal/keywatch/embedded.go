package keywatch

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// The embedded development Redis (miniredis) publishes no keyspace notifications, and its
// TTLs do not run by themselves. An emulator makes it do both, so that the embedded mode
// watches keys through the very same pattern subscriptions as a real Redis:
//
//   - a hook on its command stream runs each write command, then queues the notification
//     Redis would publish ("__keyspace@<db>__:<key>" with the event), for keys a rule
//     matches; commands in MULTI are told after their EXEC, commands of Lua scripts as they
//     run; FLUSHDB and FLUSHALL have every watched key read again;
//   - a clock moves its time on every Watch.EmbeddedTick, which expires keys as Redis
//     would, and tells "expired" for the watched-pattern keys that went.
//
// Notifications go out from one goroutine, in order, after the command that caused them
// has run (a Lua script holds the server's lock: publishing waits until it ends). Writers
// on any database are told as if on the configured one. Its cost is one map lookup per
// command, a publish per write to a key a rule matches, and a look at every key's TTL
// per tick: for development only, as the embedded Redis is.
type emulator struct {
	m       *miniredis.Miniredis
	prefix  string
	matches func(key string) bool
	flushed func()

	mu     sync.Mutex
	inside map[*server.Peer]bool   // peers whose command the hook is running itself
	tx     map[*server.Peer][]note // notifications of commands queued in a MULTI
	queue  []note
	wake   chan struct{}
	quit   chan struct{}
	done   sync.WaitGroup
}

// note is one notification to publish; an empty key means "everything may have changed".
type note struct{ key, event string }

func emulate(m *miniredis.Miniredis, db int, tick time.Duration, matches func(string) bool, flushed func()) *emulator {
	e := &emulator{
		m: m, prefix: keyspacePrefix(db), matches: matches, flushed: flushed,
		inside: map[*server.Peer]bool{}, tx: map[*server.Peer][]note{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}),
	}
	m.Server().SetPreHook(e.hook)
	e.done.Add(2)
	go e.publish()
	go e.clock(db, tick)
	return e
}

func (e *emulator) stop() {
	e.m.Server().SetPreHook(nil)
	close(e.quit)
	e.done.Wait()
}

// hook runs before every command. A write command to a key a rule matches it runs itself
// (the nested call passes through), queues the notifications, and tells the server the
// command is done; in a MULTI the notifications wait for the EXEC, which it runs the same way.
func (e *emulator) hook(p *server.Peer, cmd string, args ...string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inside[p] {
		return false
	}
	queued, inTx := e.tx[p]
	switch cmd {
	case "MULTI":
		if !inTx {
			e.tx[p] = []note{}
			p.OnDisconnect(func() { e.mu.Lock(); delete(e.tx, p); e.mu.Unlock() })
		}
		return false
	case "DISCARD":
		delete(e.tx, p)
		return false
	case "EXEC":
		if !inTx {
			return false
		}
		delete(e.tx, p)
		e.run(p, cmd, args, queued)
		return true
	}
	notes := e.notesOf(cmd, args)
	switch {
	case len(notes) == 0:
		return false
	case inTx:
		e.tx[p] = append(queued, notes...)
		return false
	}
	e.run(p, cmd, args, notes)
	return true
}

// run runs a command, then queues notes. e.mu is held, and released while it runs.
func (e *emulator) run(p *server.Peer, cmd string, args []string, notes []note) {
	e.inside[p] = true
	e.mu.Unlock()
	e.m.Server().Dispatch(p, append([]string{cmd}, args...))
	e.mu.Lock()
	delete(e.inside, p)
	e.queue = append(e.queue, notes...)
	e.signal()
}

func (e *emulator) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// publish sends the queued notifications, in order, through the server's own pub/sub.
func (e *emulator) publish() {
	defer e.done.Done()
	for {
		select {
		case <-e.quit:
			return
		case <-e.wake:
		}
		e.mu.Lock()
		notes := e.queue
		e.queue = nil
		e.mu.Unlock()
		for _, n := range notes {
			if n.key == "" {
				e.flushed()
				continue
			}
			e.m.Publish(e.prefix+n.key, n.event)
		}
	}
}

// clock expires keys as time passes, and tells "expired" for those a rule matches.
func (e *emulator) clock(db int, tick time.Duration) {
	defer e.done.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-e.quit:
			return
		case now := <-t.C:
			d := now.Sub(last)
			last = now
			keys := e.m.DB(db)
			var expiring []string
			for _, k := range keys.Keys() {
				if ttl := keys.TTL(k); ttl > 0 && ttl <= d && e.matches(k) {
					expiring = append(expiring, k)
				}
			}
			e.m.FastForward(d)
			var notes []note
			for _, k := range expiring {
				if !keys.Exists(k) {
					notes = append(notes, note{k, "expired"})
				}
			}
			if len(notes) > 0 {
				e.mu.Lock()
				e.queue = append(e.queue, notes...)
				e.mu.Unlock()
				e.signal()
			}
		}
	}
}

// notesOf are the notifications of a write command, for the keys a rule matches. Event names are Redis's where a watcher tells them apart (del,
// expired); others are the command's name.
func (e *emulator) notesOf(cmd string, args []string) []note {
	var notes []note
	add := func(key, event string) {
		if e.matches(key) {
			notes = append(notes, note{key, event})
		}
	}
	event := strings.ToLower(cmd)
	switch keysAt[cmd] {
	case firstKey:
		if len(args) > 0 {
			add(args[0], event)
		}
	case everyKey:
		for _, k := range args {
			add(k, "del")
		}
	case keyValuePairs:
		for i := 0; i < len(args); i += 2 {
			add(args[i], "set")
		}
	case fromTo:
		if len(args) > 1 {
			add(args[0], event+"_from")
			add(args[1], event+"_to")
		}
	case flush:
		return []note{{}}
	default:
		return nil
	}
	return notes
}

// Where a write command names its keys.
const (
	notWrite = iota
	firstKey
	everyKey      // DEL k1 k2...
	keyValuePairs // MSET k1 v1 k2 v2...
	fromTo        // RENAME from to
	flush
)

var keysAt = map[string]int{
	"DEL": everyKey, "UNLINK": everyKey,
	"MSET": keyValuePairs, "MSETNX": keyValuePairs,
	"RENAME": fromTo, "RENAMENX": fromTo, "COPY": fromTo, "SMOVE": fromTo, "LMOVE": fromTo,
	"RPOPLPUSH": fromTo, "FLUSHDB": flush, "FLUSHALL": flush,
}

func init() {
	for _, cmd := range strings.Fields(`SET SETNX SETEX PSETEX GETSET GETDEL GETEX APPEND INCR
		INCRBY INCRBYFLOAT DECR DECRBY SETRANGE SETBIT HSET HSETNX HMSET HDEL HINCRBY HINCRBYFLOAT
		XADD XTRIM XDEL XSETID EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST RESTORE MOVE LPUSH RPUSH
		LPOP RPOP LSET LREM LTRIM LINSERT SADD SREM SPOP ZADD ZREM ZINCRBY ZPOPMIN ZPOPMAX`) {
		keysAt[cmd] = firstKey
	}
}

// keyspacePrefix starts the notification channel of a key of database db.
func keyspacePrefix(db int) string { return "__keyspace@" + strconv.Itoa(db) + "__:" }
