package keywatch

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/publish"
)

// TopicPrefix starts the topic of a watched key: key K is the topic "key:K" (which the
// publish package refuses to write).
const TopicPrefix = publish.KeyTopicPrefix

// MaxKeyLen is the longest key name that fits a topic (publish.MaxTopicLen with the prefix).
const MaxKeyLen = publish.MaxTopicLen - len(TopicPrefix)

// Rule kinds.
const (
	KindState  = "state"  // a string or a hash: its value, then every change
	KindStream = "stream" // a Redis Stream that others XADD to: its entries
)

// Conf is the Watch block of the service's settings.
type Conf struct {
	// Keys are the keys that may be watched; a key no rule matches cannot be.
	Keys []Rule `json:",optional"`
	// ConfigureRedis lets the service turn on the keyspace notifications it needs
	// (CONFIG SET notify-keyspace-events) where they are off; without it, the service
	// refuses to start until they are on. Managed Redis services often forbid CONFIG.
	ConfigureRedis bool `json:",optional"`
	// TopologyRefresh is how often, with Redis Cluster, the masters are listed again, so
	// that notifications are followed to the masters of a failover or a resharding.
	TopologyRefresh time.Duration `json:",default=2s"`
	// EmbeddedTick is how often the embedded development Redis's clock moves on, expiring
	// keys and telling watchers (see embedded.go).
	EmbeddedTick time.Duration `json:",default=100ms"`
}

// Rule makes the keys its pattern matches watchable.
type Rule struct {
	// Pattern is a glob over key names, with Redis's glob syntax (*, ?, [abc], [^a], [a-z],
	// \ to escape); key names never hold "/", so Go's path.Match agrees with Redis on them.
	Pattern string
	// Kind is "state" (a string or a hash) or "stream" (a Redis Stream).
	Kind string `json:",options=state|stream"`
	// Public lets anyone who knows a key's name read it (the name is the secret, as a
	// 128-bit QR id is); otherwise the subscribe claims apply to its topic, "key:<name>".
	Public bool `json:",optional"`
}

// Validate refuses rules that cannot work, naming the one at fault.
func (c Conf) Validate() error {
	for i, r := range c.Keys {
		if r.Pattern == "" {
			return fmt.Errorf("Watch.Keys[%d]: Pattern is empty", i)
		}
		if _, err := path.Match(r.Pattern, ""); err != nil {
			return fmt.Errorf("Watch.Keys[%d]: Pattern %q is not a valid glob", i, r.Pattern)
		}
		if r.Kind != KindState && r.Kind != KindStream {
			return fmt.Errorf("Watch.Keys[%d]: Kind %q: want %q or %q", i, r.Kind, KindState, KindStream)
		}
	}
	if c.TopologyRefresh < 0 || c.EmbeddedTick < 0 {
		return errors.New("Watch.TopologyRefresh and Watch.EmbeddedTick cannot be negative")
	}
	return nil
}

func (c Conf) withDefaults() Conf {
	if c.TopologyRefresh == 0 {
		c.TopologyRefresh = 2 * time.Second
	}
	if c.EmbeddedTick == 0 {
		c.EmbeddedTick = 100 * time.Millisecond
	}
	return c
}

// Rules are the rules of a Conf, in order: the first that matches a key decides.
type Rules []Rule

// Match returns the index of the first rule matching key, or -1.
func (rs Rules) Match(key string) int {
	if key == "" || len(key) > MaxKeyLen || strings.Contains(key, "/") {
		return -1
	}
	for i, r := range rs {
		if ok, _ := path.Match(r.Pattern, key); ok {
			return i
		}
	}
	return -1
}

// Watchable says whether the key may be watched, and whether anyone may read it.
func (rs Rules) Watchable(key string) (public, ok bool) {
	i := rs.Match(key)
	if i < 0 {
		return false, false
	}
	return rs[i].Public, true
}

// kindOf is how the hub sees topic: broker.KindOwn unless it is a watchable key's.
func (rs Rules) kindOf(topic string) broker.Kind {
	key, ok := strings.CutPrefix(topic, TopicPrefix)
	if !ok {
		return broker.KindOwn
	}
	i := rs.Match(key)
	switch {
	case i < 0:
		return broker.KindOwn
	case rs[i].Kind == KindStream:
		return broker.KindStream
	}
	return broker.KindState
}
