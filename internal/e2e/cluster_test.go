package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sseapi/sse-api/internal/redistest"
	pub "github.com/sseapi/sse-api/publish"
)

// Two instances on a real Redis Cluster (three masters, three replicas): topics served by
// every master stream across instances over sharded pub/sub, a stream resumes on the other
// instance, QR login runs across them, and limits are counted once for both.
func TestOnACluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	onCluster := settings{
		RedisAddrs: strings.Join(cl.Addrs(), ", "), QRCreatePerMinute: 3,
		Extra: "TrustedProxies: [127.0.0.1]",
	}
	a, b := start(t, onCluster), start(t, onCluster)
	tok := token(t, "carol", []string{"cl:*"}, []string{"cl:*"})

	// One topic per master.
	byMaster := map[*redistest.Server]string{}
	for len(byMaster) < 3 {
		topic := redistest.Name("cl:")
		byMaster[cl.MasterOf(t, pub.StreamKey(topic))] = topic
	}
	var topics []string
	for _, topic := range byMaster {
		topics = append(topics, topic)
	}

	t.Run("topics on every master reach a stream on the other instance", func(t *testing.T) {
		s := mustOpen(t, b.Base+"/v1/events?topic="+strings.Join(topics, "&topic="), bearer(tok))
		s.waitPosition(t)
		for round := 0; round < 3; round++ {
			for i, topic := range topics {
				publishEvent(t, a.Base, tok, topic, round*10+i)
			}
		}
		for round := 0; round < 3; round++ {
			for i, topic := range topics {
				ev := s.next(t)
				if mustInt(t, ev.Data) != round*10+i || !strings.Contains(ev.ID, topic+"=") {
					t.Fatalf("event %+v, want %d of %s", ev, round*10+i, topic)
				}
			}
		}
		for m := range byMaster {
			stats, err := m.Do("info", "commandstats")
			if err != nil {
				t.Fatal(err)
			}
			if s := stats.(string); !strings.Contains(s, "cmdstat_spublish:") || strings.Contains(s, "cmdstat_publish:") {
				t.Errorf("%s announces with PUBLISH, or not with SPUBLISH:\n%s", m.Name, s)
			}
		}
	})

	t.Run("a stream resumes on the other instance", func(t *testing.T) {
		topic := topics[0]
		s := mustOpen(t, a.Base+"/v1/events?topic="+topic, bearer(tok))
		s.waitPosition(t)
		for i := 0; i < 10; i++ {
			publishEvent(t, b.Base, tok, topic, i)
		}
		var last string
		for i := 0; i < 5; i++ {
			ev := s.next(t)
			if got := mustInt(t, ev.Data); got != i {
				t.Fatalf("event %d is %d", i, got)
			}
			last = ev.ID
		}
		s.Close()
		resumed := mustOpen(t, b.Base+"/v1/events?topic="+topic, http.Header{
			"Authorization": {"Bearer " + tok}, "Last-Event-Id": {last},
		})
		for i := 5; i < 10; i++ {
			if got := mustInt(t, resumed.next(t).Data); got != i {
				t.Fatalf("resumed event %d is %d", i, got)
			}
		}
	})

	t.Run("QR login across the instances", func(t *testing.T) {
		br := newBrowser(t)
		br.header.Set("X-Forwarded-For", randomTestIP())
		s := createSession(t, a, br)
		onB := qrSession{id: s.id, base: b.Base + "/v1/qr/sessions/" + s.id, owner: br}
		ev := mustStream(t, onB.events(t, br, nil))
		expectState(t, ev.next(t), "pending")
		alice := phoneToken(t, "alice")
		if status, out := s.phone(t, "scan", alice); status != http.StatusOK {
			t.Fatalf("scan: %d %v", status, out)
		}
		expectState(t, ev.next(t), "scanned")
		if status, out := onB.phone(t, "confirm", alice); status != http.StatusOK {
			t.Fatalf("confirm: %d %v", status, out)
		}
		expectState(t, ev.next(t), "confirmed")
		status, out := br.do(http.MethodPost, onB.base+"/exchange", nil)
		if status != http.StatusOK || jwtClaims(t, out["accessToken"].(string))["uid"] != "alice" {
			t.Fatalf("exchange: %d %v", status, out)
		}
		expectState(t, ev.next(t), "consumed")
		ev.waitEnded(t)
	})

	t.Run("limits are counted once for every instance", func(t *testing.T) {
		br := newBrowser(t)
		br.header.Set("X-Forwarded-For", randomTestIP())
		for i, inst := range []*instance{a, b, a} {
			if status, out := br.do(http.MethodPost, inst.Base+"/v1/qr/sessions", nil); status != http.StatusCreated {
				t.Fatalf("creation %d: %d %v", i+1, status, out)
			}
		}
		for _, inst := range []*instance{b, a} {
			if status, out := br.do(http.MethodPost, inst.Base+"/v1/qr/sessions", nil); status != http.StatusTooManyRequests || out["code"] != "rate_limited" {
				t.Fatalf("creation over the limit on %s: %d %v", inst.APIAddr, status, out)
			}
		}
	})
}
