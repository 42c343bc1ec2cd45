package hangup

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// pair returns the server side of a loopback TCP connection and its client side.
func pair(t *testing.T, ln net.Listener) (server, client net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: gone not called within 5s", what)
	}
}

// Of many watched connections, each one's hang-up is reported once; one that was stopped,
// or whose peer only sent bytes, is not reported at all.
func TestHangUpsAreReportedOnceAndOnlyForTheirConnection(t *testing.T) {
	ln := listen(t)
	const n = 200
	var calls [n]atomic.Int32
	done := make([]chan struct{}, n)
	clients := make([]net.Conn, n)
	for i := range n {
		s, c := pair(t, ln)
		clients[i] = c
		done[i] = make(chan struct{})
		Watch(s, func() {
			if calls[i].Add(1) == 1 {
				close(done[i])
			}
		})
	}
	stoppedServer, stoppedClient := pair(t, ln)
	var stoppedCalls atomic.Int32
	stop := Watch(stoppedServer, func() { stoppedCalls.Add(1) })
	stop()
	talkerServer, talker := pair(t, ln)
	var talkerCalls atomic.Int32
	Watch(talkerServer, func() { talkerCalls.Add(1) })
	if _, err := talker.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}

	stoppedClient.Close()
	for i, c := range clients {
		c.Close()
		waitClosed(t, done[i], "closed client")
	}
	// A last hang-up, reported after the stopped one's and the talker's bytes were there to
	// be (wrongly) reported.
	lastServer, last := pair(t, ln)
	lastDone := make(chan struct{})
	Watch(lastServer, func() { close(lastDone) })
	last.Close()
	waitClosed(t, lastDone, "last client")
	for i := range n {
		if c := calls[i].Load(); c != 1 {
			t.Errorf("connection %d: gone called %d times", i, c)
		}
	}
	if c := stoppedCalls.Load(); c != 0 {
		t.Errorf("stopped watch: gone called %d times", c)
	}
	if c := talkerCalls.Load(); c != 0 {
		t.Errorf("peer that sent bytes: gone called %d times", c)
	}
}

// A connection the process closes itself is not reported, and its descriptor number, taken
// by the next connection, is watched for that one.
func TestClosingOurSideThenReusingTheDescriptor(t *testing.T) {
	ln := listen(t)
	s1, _ := pair(t, ln)
	var first atomic.Int32
	stop := Watch(s1, func() { first.Add(1) })
	stop()
	s1.Close()
	s2, c2 := pair(t, ln)
	done := make(chan struct{})
	Watch(s2, func() { close(done) })
	c2.Close()
	waitClosed(t, done, "second connection")
	if c := first.Load(); c != 0 {
		t.Errorf("first connection: gone called %d times", c)
	}
}

// Connections without a descriptor are watched by reading them.
func TestConnectionsWithoutDescriptorAreRead(t *testing.T) {
	a, b := net.Pipe()
	done := make(chan struct{})
	Watch(a, func() { close(done) })
	b.Close()
	waitClosed(t, done, "pipe")
}
