// Package auth decides who a request is and what it may see: go-zero JWTs (HS256, claim
// `uid`, topic patterns in claims `publish` and `subscribe`), the HttpOnly cookie and the
// single-use tickets that stand in for headers a browser's EventSource cannot send, and the
// resume cookie that lets a ticket's stream reconnect by itself.
package auth

import "strings"

// Patterns are topic patterns: an exact topic, or a prefix ending in '*' that matches any
// suffix ("orders:*"). A lone "*" matches every topic.
type Patterns []string

// Match reports whether any pattern matches topic.
func (p Patterns) Match(topic string) bool {
	for _, pat := range p {
		if prefix, wild := strings.CutSuffix(pat, "*"); wild {
			if strings.HasPrefix(topic, prefix) {
				return true
			}
		} else if pat == topic {
			return true
		}
	}
	return false
}
