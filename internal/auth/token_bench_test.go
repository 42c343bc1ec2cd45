package auth

import (
	"testing"
	"time"
)

// BenchmarkIdentity is the one token check every request makes, for a token seen before
// (a publisher's, a reconnecting client's), with and without keeping verified tokens, and
// for tokens seen once each.
func BenchmarkIdentity(b *testing.B) {
	tokens := NewTokens("secret-0123456789")
	sign := func(uid string) string {
		tok, err := tokens.Sign(map[string]any{"uid": uid, "subscribe": []string{"orders:*"}, "publish": []string{"orders:*"}}, time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	b.Run("same", func(b *testing.B) {
		tok := sign("u")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tokens.Identity(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("same-kept", func(b *testing.B) {
		kept := NewTokens("secret-0123456789").WithVerifiedCache(10000)
		tok := sign("u")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kept.Identity(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("distinct", func(b *testing.B) {
		toks := make([]string, 4096)
		for i := range toks {
			toks[i] = sign("u" + string(rune('a'+i%26)) + time.Now().String())
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := tokens.Identity(toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
