package keywatch

import (
	"errors"
	"strings"
	"testing"

	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/redistest"
)

func TestClassesNeeded(t *testing.T) {
	for _, c := range []struct {
		rules              Conf
		need, has, missing string
	}{
		{rules(stateRule("a:*")), "Kgxe$h", "", "Kgxe$h"},
		{rules(streamRule("a:*")), "Kgxet", "AKE", ""},
		{rules(stateRule("a:*"), streamRule("b:*")), "Kgxe$ht", "Kx$", "geht"},
		{rules(stateRule("a:*"), streamRule("b:*")), "Kgxe$ht", "KA", ""},
		{rules(stateRule("a:*")), "Kgxe$h", "Eg$lshzxet", "K"},
	} {
		need := Rules(c.rules.Keys).classes()
		if need != c.need {
			t.Errorf("%v: classes %q, want %q", c.rules.Keys, need, c.need)
		}
		if got := missingClasses(c.has, need); got != c.missing {
			t.Errorf("missing from %q: %q, want %q", c.has, got, c.missing)
		}
	}
}

// Without the notifications it needs, the service refuses to start, naming the setting
// and what it lacks; it sets them itself only when Watch.ConfigureRedis says so.
func TestStartChecksNotifyKeyspaceEvents(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{Args: []string{"--notify-keyspace-events", "Kx"}})
	conn, err := redisconn.Connect(redisconn.Conf{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	_, err = Start(ctx, conn, rules(stateRule("qrcode:*")), 0)
	var off *errNotifications
	if !errors.As(err, &off) {
		t.Fatalf("started without notifications: %v", err)
	}
	for _, want := range []string{"notify-keyspace-events", `"xK"`, `lacks the classes "ge$h"`, "CONFIG SET notify-keyspace-events xKge$h", "Watch.ConfigureRedis"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, err)
		}
	}
	if got := srv.Client(t).ConfigGet(ctx, NotifySetting).Val()[NotifySetting]; got != "xK" {
		t.Fatalf("the setting was changed to %q without Watch.ConfigureRedis", got)
	}

	conf := rules(stateRule("qrcode:*"))
	conf.ConfigureRedis = true
	w, err := Start(ctx, conn, conf, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	got := srv.Client(t).ConfigGet(ctx, NotifySetting).Val()[NotifySetting]
	if missing := missingClasses(got, "Kgxe$h"); missing != "" {
		t.Fatalf("after ConfigureRedis the setting is %q, missing %q", got, missing)
	}
}

// A Redis that refuses CONFIG (renamed, an ACL, a managed service) cannot be checked: the
// service starts, and says what the setting must hold.
func TestStartWhereConfigIsRefused(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{Args: []string{
		"--notify-keyspace-events", "KEA", "--rename-command", "CONFIG", "",
	}})
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("k:*")))
	key := redistest.Name("k:")
	c, _ := s.subscribe("", "key:"+key)
	c.waitN(t, 1)
	srv.Client(t).Set(ctx, key, "1", 0)
	c.waitLast(t, StateEvent, "1")
}
