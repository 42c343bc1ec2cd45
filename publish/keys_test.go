package publish

import "testing"

func TestChannelCarriesTheTopicHashTag(t *testing.T) {
	for _, topic := range []string{"a", "orders:42", "qr:0f1e", "x.y-z_1"} {
		ch := Channel(topic)
		if want := "sse:ch:{" + topic + "}"; ch != want {
			t.Fatalf("Channel(%q) = %q, want %q", topic, ch, want)
		}
		if got, ok := ChannelTopic(ch); !ok || got != topic {
			t.Fatalf("ChannelTopic(%q) = %q, %v", ch, got, ok)
		}
	}
	for _, ch := range []string{"sse:ch:orders:42", "sse:ch:{orders:42", "other:{a}", "__keyspace@0__:x"} {
		if got, ok := ChannelTopic(ch); ok {
			t.Fatalf("ChannelTopic(%q) = %q, want no topic", ch, got)
		}
	}
}
