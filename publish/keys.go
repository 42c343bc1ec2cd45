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

// Channel is the pub/sub channel on which a topic's new events are announced:
// "sse:ch:{<topic>}". The topic is its hash tag, so in a Redis Cluster the channel is in the
// slot of the topic's keys, and the script that appends an event may announce it with
// SPUBLISH (see AnnounceCommand).
func Channel(topic string) string { return channelPrefix + topic + "}" }

const channelPrefix = "sse:ch:{"

// ChannelTopic returns the topic whose events channel announces; ok is false when channel is
// not a topic's channel.
func ChannelTopic(channel string) (topic string, ok bool) {
	rest, ok := strings.CutPrefix(channel, channelPrefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "}")
}
