package ssewire

import (
	"net"
	"testing"
)

// discardConn is a connection that takes every write, for a detached Writer's benchmarks.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }
func (discardConn) Close() error                { return nil }

// detachedDiscard is a Writer as Detach makes it, on a connection that discards.
func detachedDiscard() *Writer {
	return &Writer{conn: discardConn{}, opts: Options{Detachable: true}, opened: true}
}

// The send path of a detached stream, as the stream loop drives it: a frame, then its flush
// (one write system call on a real connection). Steady state: no allocation.
func BenchmarkDetachedFrameAndFlush(b *testing.B) {
	w := detachedDiscard()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if err := w.WriteFrame("1234567", benchBody); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// Sixteen queued frames sharing one flush, as Subscriber.Send writes a backlog.
func BenchmarkDetachedBatchOf16(b *testing.B) {
	w := detachedDiscard()
	b.ReportAllocs()
	b.SetBytes(16 * int64(len(benchBody)))
	for b.Loop() {
		for range 16 {
			if err := w.WriteFrame("1234567", benchBody); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDetachedSteadyStateAllocations(t *testing.T) {
	w := detachedDiscard()
	defer w.Close()
	if n := testing.AllocsPerRun(1000, func() {
		if err := w.WriteFrame("1234567", benchBody); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("detached WriteFrame+Flush: %v allocations per event, want 0", n)
	}
}
