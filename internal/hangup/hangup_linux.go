package hangup

import (
	"net"
	"sync"
	"syscall"

	"github.com/zeromicro/go-zero/core/logx"
)

// The peer closed its side, the connection hung up or failed; once (EPOLLONESHOT).
const watchedEvents = syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR | 1<<30

// poller is the one epoll set of the process's watched connections.
type poller struct {
	epfd int

	mu      sync.Mutex
	broken  bool
	next    uint64
	waiting map[uint64]func() // watch id -> gone
}

var (
	pollerOnce sync.Once
	thePoller  *poller
)

func getPoller() *poller {
	pollerOnce.Do(func() {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			logx.Errorf("hangup: epoll unavailable, one goroutine per connection instead: %v", err)
			return
		}
		thePoller = &poller{epfd: epfd, waiting: map[uint64]func(){}}
		go thePoller.run()
	})
	return thePoller
}

// watchPolled adds conn's descriptor to the epoll set, one-shot: the first hang-up (or
// error) is reported once, and then the kernel reports nothing more for it. The
// descriptor leaves the set by itself when it is closed, so stop only forgets the watch:
// it never names a descriptor number that may by then belong to another connection.
func watchPolled(conn net.Conn, gone func()) (func(), bool) {
	p := getPoller()
	if p == nil {
		return nil, false
	}

	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = nc.NetConn() // TLS: the socket underneath
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	p.mu.Lock()
	if p.broken {
		p.mu.Unlock()
		return nil, false
	}
	p.next++
	id := p.next
	p.waiting[id] = gone
	p.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: watchedEvents,
		Fd:     int32(uint32(id)),
		Pad:    int32(uint32(id >> 32)),
	}
	var addErr error
	if err := rc.Control(func(fd uintptr) {
		addErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	}); err != nil || addErr != nil {
		p.forget(id)
		return nil, false
	}
	return func() { p.forget(id) }, true
}

func (p *poller) forget(id uint64) func() {
	p.mu.Lock()
	gone := p.waiting[id]
	delete(p.waiting, id)
	p.mu.Unlock()
	return gone
}

func (p *poller) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			// Never seen; if it happens, end every watched stream (their clients
			// reconnect) rather than miss their hang-ups, and read from now on.
			logx.Errorf("hangup: epoll_wait: %v; watching by reading from now on", err)
			p.mu.Lock()
			p.broken = true
			all := p.waiting
			p.waiting = nil
			p.mu.Unlock()
			for _, gone := range all {
				gone()
			}
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if gone := p.forget(id); gone != nil {
				gone()
			}
		}
	}
}
