package hangup

import "testing"

// On Linux a TCP connection is watched by the shared epoll set, not by a goroutine of its
// own: that is the point of the package.
func TestTCPConnectionsArePolled(t *testing.T) {
	s, c := pair(t, listen(t))
	done := make(chan struct{})
	stop, ok := watchPolled(s, func() { close(done) })
	if !ok {
		t.Fatal("a TCP connection was not added to the epoll set")
	}
	defer stop()
	c.Close()
	waitClosed(t, done, "polled connection")
}
