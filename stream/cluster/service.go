package cluster

import (
	"context"

	"github.com/cloudskin/cloudskin/stream"
)

// Service returns the cluster as the network front ends serve it
// (stream/streamapi, stream/tcp). The value is also a
// stream.InstanceScaler, so that an API can set the number of instances
// by type-asserting it.
func (cl *Cluster) Service() stream.Service { return service{cl} }

// service adapts the methods whose results the stream.Service interface
// cannot name (the cluster's own reader-group types).
type service struct{ *Cluster }

var (
	_ stream.Service        = service{}
	_ stream.InstanceScaler = service{}
	_ stream.Group          = serviceGroup{}
	_ stream.GroupReader    = (*Reader)(nil)
)

func (s service) CreateReaderGroup(ctx context.Context, name string, st stream.StreamName) (stream.Group, error) {
	g, err := s.Cluster.CreateReaderGroup(ctx, name, st)
	if err != nil {
		return nil, err
	}
	return serviceGroup{g}, nil
}

func (s service) ReaderGroup(name string) (stream.Group, error) {
	g, err := s.Cluster.ReaderGroup(name)
	if err != nil {
		return nil, err
	}
	return serviceGroup{g}, nil
}

type serviceGroup struct{ *ReaderGroup }

func (g serviceGroup) Join(reader string) (stream.GroupReader, error) {
	r, err := g.ReaderGroup.Join(reader)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// AppendAsync queues an append in its stream's container and returns; done
// is called once, on the container store's log goroutine, when the events
// are durable or have failed, and must not block.
//
// The append holds a lease on the container until done has run, so a move
// of the container waits for it: the store is closed only once every
// queued append has been answered, and nothing is ever queued on a store
// that is closing. While the container moves, AppendAsync waits for the
// move to end (a close and a replay) before it queues: the caller's next
// append with the same routing key cannot then overtake this one, which
// keeps the order of AppendAsync calls per key. For the same reason done
// must not call AppendAsync: a move waits for done, and done would wait
// for the move.
func (cl *Cluster) AppendAsync(req stream.AppendRequest, done func(stream.AppendResult, error)) error {
	l, err := cl.containerOf(req.Stream).acquire(context.Background())
	if err != nil {
		return err
	}
	err = l.store.AppendAsync(req, func(r stream.AppendResult, err error) {
		defer l.release()
		done(r, err)
	})
	if err != nil {
		// Nothing was queued, so done will not run.
		l.release()
	}
	return err
}
