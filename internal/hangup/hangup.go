// Package hangup notices when the peer of a connection that nobody reads hangs up.
//
// A detached SSE stream only writes; its client never sends anything after the request.
// Reading such a connection just to learn that it closed takes a goroutine per
// connection, blocked in a read: 2 KiB of stack and a goroutine's bookkeeping for each of
// tens of thousands of streams. On Linux one goroutine waits on an epoll set of all of
// them instead (EPOLLRDHUP: the peer closed its side); elsewhere, and for connections
// without a file descriptor, a goroutine per connection reads as before.
package hangup

import (
	"net"
	"sync"
)

// Watch calls gone once, from a goroutine of the package's, when conn's peer closes the
// connection or the connection fails. The returned stop ends the watch without calling
// gone: call it before closing conn.
func Watch(conn net.Conn, gone func()) (stop func()) {
	if stop, ok := watchPolled(conn, gone); ok {
		return stop
	}
	return watchReading(conn, gone)
}

// watchReading reads conn until it fails, dropping whatever the peer sends.
func watchReading(conn net.Conn, gone func()) func() {
	var once sync.Once
	stopped := make(chan struct{})
	go func() {
		var b [1]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				select {
				case <-stopped:
				default:
					once.Do(gone)
				}
				return
			}
		}
	}()
	return func() { once.Do(func() { close(stopped) }) }
}
