package publish

// Every key of a topic carries the topic in a hash tag, so a Redis Cluster keeps a topic's
// history and position in one slot and one Lua script can update both atomically.

// StreamKey is the Redis Stream holding a topic's recent events.
func StreamKey(topic string) string { return "sse:{" + topic + "}:events" }

// MetaKey is the hash holding a topic's newest id ("last") and the newest id dropped from
// its history ("floor").
func MetaKey(topic string) string { return "sse:{" + topic + "}:meta" }

// ChannelPrefix starts every topic's pub/sub channel name.
const ChannelPrefix = "sse:ch:"

// Channel is the pub/sub channel on which a topic's new events are announced.
func Channel(topic string) string { return ChannelPrefix + topic }
