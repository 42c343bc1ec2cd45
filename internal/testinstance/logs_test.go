package testinstance

import (
	"strings"
	"testing"
)

func TestLogsKeepTheStartAndTheEnd(t *testing.T) {
	var l Logs
	l.Write([]byte("first line\n"))
	filler := strings.Repeat("x", 1023) + "\n"
	for range 4096 { // 4 MiB
		l.Write([]byte(filler))
	}
	l.Write([]byte("last line\n"))
	s := l.String()
	if !strings.HasPrefix(s, "first line\n") || !strings.HasSuffix(s, filler+"last line\n") {
		t.Errorf("lost the start or the end: %q ... %q", s[:20], s[len(s)-20:])
	}
	if len(s) > headMax+tailMax {
		t.Errorf("kept %d bytes, bound %d", len(s), headMax+tailMax)
	}
}

func TestWatchSeesLinesWhereverTheyAreCut(t *testing.T) {
	var l Logs
	started, raced := l.Watch("Starting server at "), l.Watch("WARNING: DATA RACE")
	l.Write([]byte("boot\nStarting ser"))
	if seen(started) {
		t.Fatal("seen before the line was written")
	}
	l.Write([]byte("ver at 127.0.0.1:1..."))
	if seen(started) {
		t.Fatal("seen before the line ended")
	}
	l.Write([]byte("\n"))
	if !seen(started) {
		t.Fatal("the line was written")
	}
	// A line the bound drops from the middle is still seen.
	l.Write([]byte(strings.Repeat("y", headMax) + "\n==================\nWARNING: DATA RACE\n" + strings.Repeat("z\n", tailMax)))
	if strings.Contains(l.String(), "DATA RACE") || !seen(raced) {
		t.Errorf("kept the middle %v, or did not see it %v", strings.Contains(l.String(), "DATA RACE"), seen(raced))
	}
	if !seen(l.Watch("boot")) {
		t.Error("a watch for kept output does not fire")
	}
	if seen(l.Watch("never written")) {
		t.Error("a watch for nothing fired")
	}
}
