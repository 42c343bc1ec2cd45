package stream

import (
	"context"
	"testing"
)

// BenchmarkLoopWakeUp measures what the logic's loop shape costs per wake-up: the idiom's
// two-way select on the stream's context and the subscription's channel, against a receive
// on the channel alone (the loop before the stream runtime, which had the context's end
// wake that channel too). An op is one wake-up of the loop and one of the waker, as a
// delivery to an idle stream is.
func BenchmarkLoopWakeUp(b *testing.B) {
	for _, shape := range []string{"select", "receive"} {
		b.Run(shape, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ready := make(chan struct{}, 1) // as broker.Subscriber's
			ack := make(chan struct{}, 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if shape == "select" {
					for {
						select {
						case <-ctx.Done():
							return
						case <-ready:
							ack <- struct{}{}
						}
					}
				}
				for {
					<-ready
					if ctx.Err() != nil {
						return
					}
					ack <- struct{}{}
				}
			}()
			for b.Loop() {
				ready <- struct{}{}
				<-ack
			}
			cancel()
			select {
			case ready <- struct{}{}:
			default:
			}
			<-done
		})
	}
}
