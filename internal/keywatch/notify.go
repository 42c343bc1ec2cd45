package keywatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"
)

// NotifySetting is the Redis setting that turns keyspace notifications on.
const NotifySetting = "notify-keyspace-events"

// classes are the notification classes the rules need: K (events on the key's own
// channel), g (del, rename, expire...), x (expired), e (evicted), and $ and h for state
// keys (strings, hashes), t for stream keys.
func (rs Rules) classes() string {
	need := "Kgxe"
	for _, r := range rs {
		switch {
		case r.Kind == KindState && !strings.Contains(need, "$"):
			need += "$h"
		case r.Kind == KindStream && !strings.Contains(need, "t"):
			need += "t"
		}
	}
	return need
}

// allClasses is what "A" stands for in notify-keyspace-events.
const allClasses = "g$lshzxetd"

// missingClasses returns the classes of need that the setting has does not turn on.
func missingClasses(has, need string) string {
	if strings.Contains(has, "A") {
		has += allClasses
	}
	var missing strings.Builder
	for _, c := range need {
		if !strings.ContainsRune(has, c) {
			missing.WriteRune(c)
		}
	}
	return missing.String()
}

// errNotifications is a server whose notifications are off, with what to do about it.
type errNotifications struct {
	addr, has, need, missing string
}

func (e *errNotifications) Error() string {
	return fmt.Sprintf("Watch.Keys: Redis at %s has %s %q, which lacks the classes %q that watching keys "+
		"needs (%q in all): run CONFIG SET %s %s on every master and replica (or set it in redis.conf, or "+
		"in the managed service's parameters), or set Watch.ConfigureRedis: true to let sse-api set it",
		e.addr, NotifySetting, e.has, e.missing, e.need, NotifySetting, e.has+e.missing)
}

// ensure checks the node's notify-keyspace-events and, when classes are missing, adds them
// if Watch.ConfigureRedis allows it, else returns an *errNotifications. A node that refuses
// CONFIG itself (renamed, forbidden by an ACL or a managed service) cannot be checked: it
// is logged, with the setting it needs, and let through.
func (w *Watcher) ensure(ctx context.Context, node redis.Cmdable, addr string) error {
	need := w.rules.classes()
	got, err := node.ConfigGet(ctx, NotifySetting).Result()
	var refused redis.Error
	switch {
	case errors.As(err, &refused):
		if w.unchecked.Swap(true) {
			return nil // said once
		}
		logx.Errorf("keywatch: cannot read %s on %s (%v): make sure it holds the classes %q, or watched keys "+
			"will not be told of changes", NotifySetting, addr, err, need)
		return nil
	case err != nil:
		return fmt.Errorf("keywatch: read %s on %s: %w", NotifySetting, addr, err)
	}
	has := got[NotifySetting]
	missing := missingClasses(has, need)
	if missing == "" {
		return nil
	}
	if !w.conf.ConfigureRedis {
		return &errNotifications{addr: addr, has: has, need: need, missing: missing}
	}
	if err := node.ConfigSet(ctx, NotifySetting, has+missing).Err(); err != nil {
		return fmt.Errorf("keywatch: Watch.ConfigureRedis is on, but CONFIG SET %s %s on %s failed: %w",
			NotifySetting, has+missing, addr, err)
	}
	logx.Infof("keywatch: set %s to %q on %s (Watch.ConfigureRedis)", NotifySetting, has+missing, addr)
	return nil
}

// ensureReplicas runs ensure on the replicas of a standalone or Sentinel master (as ROLE
// lists them): a replica that a failover promotes must tell of changes too, and the link
// cannot tell which node it reconnected to.
func (w *Watcher) ensureReplicas(ctx context.Context, master redis.UniversalClient) error {
	mc, ok := master.(*redis.Client)
	if !ok {
		return nil
	}
	role, err := mc.Do(ctx, "ROLE").Slice()
	var refused redis.Error
	switch {
	case errors.As(err, &refused):
		return nil // ROLE refused (an ACL): the replicas cannot be found
	case err != nil:
		return fmt.Errorf("keywatch: ROLE: %w", err)
	case len(role) < 3 || role[0] != "master":
		return nil
	}
	replicas, _ := role[2].([]any)
	for _, r := range replicas {
		fields, _ := r.([]any)
		if len(fields) < 2 {
			continue
		}
		addr := net.JoinHostPort(fmt.Sprint(fields[0]), fmt.Sprint(fields[1]))
		opt := *mc.Options() // the master's credentials and TLS, the replica's address
		opt.Addr, opt.Dialer = addr, nil
		rc := redis.NewClient(&opt)
		err := w.ensure(ctx, rc, addr)
		_ = rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
