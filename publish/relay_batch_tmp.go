package publish

// TEMPORARY: Event and PublishBatch stand in for the batch publishing of the server API,
// which brings them with this exact signature; Relay is written against it. Delete this
// file when that lands.

import "context"

// Event is one event of a batch: its topic, its name ("" for DefaultEvent) and its data,
// one valid JSON value.
type Event struct {
	Topic, Event string
	Data         []byte
}

// PublishBatch publishes events in order and returns their ids. This stand-in publishes
// them one by one and stops at the first error, returning the ids published before it.
func (p *Publisher) PublishBatch(ctx context.Context, events []Event) ([]string, error) {
	ids := make([]string, 0, len(events))
	for _, e := range events {
		id, err := p.Publish(ctx, e.Topic, e.Event, e.Data)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
