package granny_test

import (
	"testing"

	"github.com/cloudskin/cloudskin/granny"
)

// An elastic rank is granted idle cores only while nobody waits for them,
// shared with the host's other elastic ranks and capped at MaxFactor.
func TestElasticGrant(t *testing.T) {
	for _, tc := range []struct {
		name                                   string
		p                                      granny.Elastic
		cores, running, elastic, waiting, want int
	}{
		{"idle host, one elastic rank", granny.Elastic{}, 16, 4, 1, 0, 2},
		{"idle host, larger factor", granny.Elastic{MaxFactor: 8}, 16, 4, 1, 0, 8},
		{"idle cores shared", granny.Elastic{MaxFactor: 8}, 16, 8, 4, 0, 3},
		{"a job waits", granny.Elastic{MaxFactor: 8}, 16, 4, 1, 1, 1},
		{"no idle core", granny.Elastic{}, 4, 4, 2, 0, 1},
		{"oversubscribed", granny.Elastic{}, 4, 6, 2, 0, 1},
		{"no elastic rank", granny.Elastic{}, 16, 4, 0, 0, 1},
	} {
		if got := tc.p.Grant(tc.cores, tc.running, tc.elastic, tc.waiting); got != tc.want {
			t.Errorf("%s: Grant(%d, %d, %d, %d) = %d, want %d", tc.name, tc.cores, tc.running, tc.elastic, tc.waiting, got, tc.want)
		}
	}
}
