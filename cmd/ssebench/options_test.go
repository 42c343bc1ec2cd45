package main

import (
	"strings"
	"testing"
	"time"
)

// Each scenario fills in the flags left unset with its own defaults; flags given win.
func TestScenarioDefaults(t *testing.T) {
	for _, tc := range []struct {
		args     string
		n        int
		rate     float64
		duration time.Duration
		pubConns int
		servers  string
	}{
		{"-scenario idle", 19000, 0, 0, 0, "ref,sse-api"},
		{"-scenario fanout", 10000, 20, time.Minute, 1, "ref,sse-api"},
		{"-scenario topics", 15000, 5000, time.Minute, 64, "ref,sse-api"},
		{"-scenario qr", 15000, 0, 0, 0, "sse-api"},
		{"-scenario publish", 0, 0, 20 * time.Second, 64, "ref,sse-api"},
		{"-scenario fanout -n 7 -rate 3 -duration 5s -pub-conns 2 -servers sse-api", 7, 3, 5 * time.Second, 2, "sse-api"},
		{"-scenario qr -servers ref", 15000, 0, 0, 0, "sse-api"},
		{"-scenario publish -batch 100", 0, 0, 20 * time.Second, 64, "sse-api"},
		{"-scenario deploy", 10000, 100, 5 * time.Second, 4, "sse-api"},
	} {
		o, err := parseOptions(strings.Fields(tc.args))
		if err != nil {
			t.Fatalf("%s: %v", tc.args, err)
		}
		if o.n != tc.n || o.rate != tc.rate || o.duration != tc.duration || o.pubConns != tc.pubConns || o.servers != tc.servers {
			t.Errorf("%s: n %d rate %v duration %v pub-conns %d servers %q; want %d %v %v %d %q",
				tc.args, o.n, o.rate, o.duration, o.pubConns, o.servers, tc.n, tc.rate, tc.duration, tc.pubConns, tc.servers)
		}
	}
	for _, args := range []string{"-scenario nope", "-scenario idle -url 10.0.0.1:80", "-scenario idle -redis 10.0.0.1:6379",
		"-scenario fanout -batch 10", "-scenario publish -batch -1", "-scenario publish -batch 10 -servers ref,sse-api"} {
		if _, err := parseOptions(strings.Fields(args)); err == nil {
			t.Errorf("%s: accepted", args)
		}
	}
}
