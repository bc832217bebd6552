package stream

import (
	"context"
	"time"
)

// Service is the store as its network front ends (the REST API in
// stream/streamapi, the TCP protocol in stream/tcp) serve it: one Store
// (Store.Service) or several stores under one controller
// (stream/cluster). The front ends depend on this interface, not on
// either, so that `cloudskin up` and `cloudskin stream serve` can run
// either behind the same protocols.
type Service interface {
	// Err reports why the service cannot take requests, if it cannot.
	Err() error

	Scopes() []string
	CreateScope(ctx context.Context, scope string) error
	DeleteScope(ctx context.Context, scope string) error

	Streams(scope string) ([]string, error)
	CreateStream(ctx context.Context, name StreamName, cfg StreamConfig) error
	Stream(name StreamName) (StreamInfo, error)
	DeleteStream(ctx context.Context, name StreamName) error
	Truncate(ctx context.Context, name StreamName, cut StreamCut) error

	Append(ctx context.Context, req AppendRequest) (AppendResult, error)
	// AppendAsync queues an append and returns; done is called once, when
	// it is durable or has failed, and must neither block nor call
	// AppendAsync. Appends queued for one routing key are stored in the
	// order AppendAsync is called. An error returned by AppendAsync itself
	// means nothing was queued. A cluster's may wait while the stream's
	// container moves between instances (it queues on the target after).
	AppendAsync(req AppendRequest, done func(AppendResult, error)) error
	ReadSegment(ctx context.Context, name StreamName, id SegmentID, offset int64, opts ReadOptions) (Batch, error)

	Scale(ctx context.Context, name StreamName, seal []SegmentID, ranges []KeyRange) ([]SegmentInfo, error)
	SplitSegment(ctx context.Context, name StreamName, id SegmentID, parts int) ([]SegmentInfo, error)
	MergeSegments(ctx context.Context, name StreamName, ids []SegmentID) ([]SegmentInfo, error)

	ReaderGroups() []string
	CreateReaderGroup(ctx context.Context, name string, stream StreamName) (Group, error)
	ReaderGroup(name string) (Group, error)
	DeleteReaderGroup(ctx context.Context, name string) error
}

// Group is a reader group as a Service hands it out (*ReaderGroup for one
// Store).
type Group interface {
	Name() string
	Stream() StreamName
	Positions() StreamCut
	Readers() []string
	Checkpoint(ctx context.Context) (StreamCut, error)
	Join(reader string) (GroupReader, error)
}

// GroupReader is a reader of a Group (*Reader for one Store).
type GroupReader interface {
	ID() string
	Segments() []SegmentID
	Read(ctx context.Context) (Event, error)
	Close(ctx context.Context) error
}

// InstanceScaler is implemented by a Service that runs its segment
// stores as several instances (stream/cluster): the Learning Plane and
// operators read and set their number through it.
type InstanceScaler interface {
	// Instances lists the instances by name.
	Instances() []string
	// SetInstances makes there be n instances and returns the container
	// moves that took.
	SetInstances(ctx context.Context, n int) ([]ContainerMove, error)
}

// ContainerMove is one container (a Store) moved from one segment-store
// instance to another.
type ContainerMove struct {
	Container int
	From, To  string
	// Took is how long the container refused requests: from the moment it
	// stopped admitting them to the moment the target had replayed it.
	Took time.Duration
	// Replayed is the number of log records the target replayed.
	Replayed int
}

// Service returns the store as a Service.
func (s *Store) Service() Service { return storeService{s} }

// storeService adapts the reader-group methods, whose concrete results
// the Service interface cannot name.
type storeService struct{ *Store }

func (s storeService) CreateReaderGroup(ctx context.Context, name string, stream StreamName) (Group, error) {
	g, err := s.Store.CreateReaderGroup(ctx, name, stream)
	if err != nil {
		return nil, err
	}
	return storeGroup{g}, nil
}

func (s storeService) ReaderGroup(name string) (Group, error) {
	g, err := s.Store.ReaderGroup(name)
	if err != nil {
		return nil, err
	}
	return storeGroup{g}, nil
}

type storeGroup struct{ *ReaderGroup }

func (g storeGroup) Join(reader string) (GroupReader, error) {
	r, err := g.ReaderGroup.Join(reader)
	if err != nil {
		return nil, err
	}
	return r, nil
}
