package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

// streamScaler is the stream actuator: it sets the number of
// segment-store instances of the stream store (a cluster, stream/cluster)
// through the store's REST API, PUT /streams/v1/instances, as an operator
// would. A replica of the predictive-scaling policy is an instance.
//
// The count is bounded by the cluster's containers: an instance beyond
// them would host nothing (a container, with its log, is what moves), so
// the actuator asks for at most that many and says so. At least one
// instance always runs: a policy that recommends 0 gets 1.
type streamScaler struct {
	api    *streamapi.Client
	server string
}

// selfAPI is what the plane's NBI client (*client.Client) tells about the
// continuum it calls: the stream store's API is on the same server.
type selfAPI interface {
	Server() string
	Token() string
}

// newStreamScaler reaches the store at a.Server or, when it is empty, at
// the continuum the NBI calls, with the NBI's token. The token is sent only
// to that continuum: another server's instance API must be open, or it
// answers 401.
func newStreamScaler(a v1alpha1.Actuator, nbi NBI) (streamScaler, error) {
	server, token := a.Server, ""
	if self, ok := nbi.(selfAPI); ok {
		if server == "" {
			server = self.Server()
		}
		if server == self.Server() {
			token = self.Token()
		}
	}
	if server == "" {
		return streamScaler{}, fmt.Errorf("stream actuator: give spec.actuator.server, the URL of the stream store's API")
	}
	c, err := streamapi.NewClient(server, token)
	if err != nil {
		return streamScaler{}, fmt.Errorf("stream actuator: %w", err)
	}
	return streamScaler{api: c, server: server}, nil
}

// Replicas returns the number of instances, as both desired and ready: a
// change is over (its containers moved) when the API answers.
func (s streamScaler) Replicas(ctx context.Context) (int, int, error) {
	in, err := s.api.Instances(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("stream instances at %s: %w", s.server, err)
	}
	return in.Count, in.Count, nil
}

// Scale sets the number of instances for a replica count.
func (s streamScaler) Scale(ctx context.Context, replicas int) (string, error) {
	in, err := s.api.Instances(ctx)
	if err != nil {
		return "", fmt.Errorf("stream instances at %s: %w", s.server, err)
	}
	want := InstancesFor(replicas, in.Containers)
	note := ""
	switch {
	case want < replicas:
		note = fmt.Sprintf(" (%d replicas asked; the store has %d containers, so no more instances would host anything)", replicas, in.Containers)
	case want > replicas:
		note = fmt.Sprintf(" (%d replicas asked; at least one instance runs)", replicas)
	}
	if want == in.Count {
		return fmt.Sprintf("stream store stays at %d instances%s", want, note), nil
	}
	moves, after, err := s.api.SetInstances(ctx, want)
	if err != nil {
		return "", fmt.Errorf("set the stream store's instances from %d to %d: %w", in.Count, want, err)
	}
	var longest time.Duration
	for _, m := range moves {
		longest = max(longest, m.Took)
	}
	return fmt.Sprintf("set the stream store's instances from %d to %d: %d containers moved, the longest unavailable %s%s",
		in.Count, after.Count, len(moves), longest.Round(time.Microsecond), note), nil
}

// InstancesFor maps a replica count to a number of segment-store
// instances: at least 1, and at most containers (when known, above 0).
func InstancesFor(replicas, containers int) int {
	n := max(replicas, 1)
	if containers > 0 {
		n = min(n, containers)
	}
	return n
}
