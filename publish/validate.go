package publish

import "strings"

// MaxTopicLen is the longest topic name accepted.
const MaxTopicLen = 128

// MaxEventLen is the longest event name accepted.
const MaxEventLen = 64

// ValidTopic reports whether topic matches [A-Za-z0-9_.:-]{1,128}. The set leaves out
// braces (they would break the hash tag of the topic's keys), spaces and every line break.
func ValidTopic(topic string) bool {
	return validName(topic, MaxTopicLen)
}

// KeyTopicPrefix starts the topics that mirror Redis keys other services write ("key:K" is
// the key K, see internal/keywatch). Their events are the keys' own changes, made in Redis by
// whoever owns them: they cannot be published to.
const KeyTopicPrefix = "key:"

// KeyTopic reports whether topic mirrors a Redis key (see KeyTopicPrefix), and so is
// read-only.
func KeyTopic(topic string) bool { return strings.HasPrefix(topic, KeyTopicPrefix) }

// ValidEvent reports whether an event name matches [A-Za-z0-9_.:-]{1,64}: it goes on the
// wire as an `event:` field and inside the announcement header, so it must hold no space,
// CR, LF or NUL. The names of the service's own notices, "reset" and "error", are refused:
// a client could not tell a published one from the service's.
func ValidEvent(event string) bool {
	return validName(event, MaxEventLen) && event != "reset" && event != "error"
}

func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
