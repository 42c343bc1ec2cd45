package publish

import "strings"

// Every key of a topic carries the topic in a hash tag, so a Redis Cluster keeps a topic's
// history and position in one slot and one Lua script can update both atomically.

// Every Redis key of sse-api is built here, so the layout is written down once.

// Key is one of sse-api's own keys: "sse:" and parts joined by ':'.
func Key(parts ...string) string { return "sse:" + strings.Join(parts, ":") }

// TopicKey is a key that belongs with topic: it shares the topic's hash tag, so one script
// may touch it together with the topic's history.
func TopicKey(topic, name string) string { return "sse:{" + topic + "}:" + name }

// StreamKey is the Redis Stream holding a topic's recent events.
func StreamKey(topic string) string { return TopicKey(topic, "events") }

// MetaKey is the hash holding a topic's newest id ("last") and the newest id dropped from
// its history ("floor").
func MetaKey(topic string) string { return TopicKey(topic, "meta") }

// ChannelPrefix starts every topic's pub/sub channel name.
const ChannelPrefix = "sse:ch:"

// Channel is the pub/sub channel on which a topic's new events are announced.
func Channel(topic string) string { return ChannelPrefix + topic }
