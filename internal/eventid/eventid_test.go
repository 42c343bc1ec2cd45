package eventid

import "testing"

func TestParseAndOrder(t *testing.T) {
	a, ok := Parse("1700000000000-5")
	if !ok || a != (ID{1700000000000, 5}) {
		t.Fatalf("Parse = %v %v", a, ok)
	}
	if b, ok := Parse("1700000000000"); !ok || b != (ID{Ms: 1700000000000}) {
		t.Fatalf("bare ms = %v %v", b, ok)
	}
	for _, bad := range []string{"", "-", "x-1", "1-x", "1-2-3", "-1"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if !(ID{1, 9}).Less(ID{2, 0}) || !(ID{2, 0}).Less(ID{2, 1}) || (ID{2, 1}).Less(ID{2, 1}) {
		t.Fatal("Less is not a strict order by (ms, seq)")
	}
	if (ID{3, ^uint64(0)}).Next() != (ID{4, 0}) || (ID{3, 1}).Next() != (ID{3, 2}) {
		t.Fatal("Next does not give the smallest following id")
	}
	if got := (ID{12, 3}).String(); got != "12-3" {
		t.Fatalf("String = %q", got)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	topics := []string{"a", "b:c"}
	c := NewCursor(topics)
	c.Set(0, ID{10, 1})
	c.Set(1, ID{20, 2})
	wire := c.String()
	if wire != "a=10-1,b:c=20-2" {
		t.Fatalf("wire = %q", wire)
	}
	back, err := ParseCursor(topics, wire)
	if err != nil || back.Positions[0] != (ID{10, 1}) || back.Positions[1] != (ID{20, 2}) || !back.Known[1] {
		t.Fatalf("ParseCursor = %+v %v", back, err)
	}
}

func TestCursorForms(t *testing.T) {
	single := NewCursor([]string{"only"})
	single.Set(0, ID{5, 0})
	if single.String() != "5-0" {
		t.Fatalf("single-topic cursor should be the bare id, got %q", single.String())
	}
	bare, err := ParseCursor([]string{"a", "b"}, "7-1")
	if err != nil || !bare.Known[0] || !bare.Known[1] || bare.Positions[1] != (ID{7, 1}) {
		t.Fatalf("bare id should apply to every topic: %+v %v", bare, err)
	}
	partial, err := ParseCursor([]string{"a", "b"}, "a=1-0,zzz=9-9")
	if err != nil || !partial.Known[0] || partial.Known[1] {
		t.Fatalf("unnamed topics stay unknown, foreign names are ignored: %+v %v", partial, err)
	}
	for _, bad := range []string{"a=", "a=x", "a=1-0,b", "nope"} {
		if _, err := ParseCursor([]string{"a", "b"}, bad); err == nil {
			t.Errorf("ParseCursor(%q) accepted", bad)
		}
	}
	empty, err := ParseCursor([]string{"a"}, "")
	if err != nil || empty.Known[0] {
		t.Fatalf("empty value = %+v %v", empty, err)
	}
}
