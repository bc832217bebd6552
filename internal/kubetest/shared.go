package kubetest

import (
	"sync"
	"testing"
)

// Shared is one cluster shared by the tests of a test binary, started by
// the first test that asks for it and stopped by TestMain after all tests:
//
//	var cluster kubetest.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		cluster.Stop()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) {
//		c := cluster.Get(t) // skips t if the binaries are absent
//		...
//	}
//
// Starting a cluster takes seconds; a dozen tests each starting their own
// would take most of the package's time budget. Sharing is safe when each
// test works in namespaces or under names of its own. The cluster is
// started lazily, so running only tests that do not need it costs nothing.
//
// Why not reference counting so the last test stops it: tests run one
// after another, so the count would drop to zero between any two of them
// and each would start a cluster again; only TestMain knows that no test
// is left.
type Shared struct {
	mu      sync.Mutex
	cluster *Cluster
	err     error // a failed start, reported to every later test too
	failed  bool  // a test using the cluster failed: keep the logs
}

// Get returns the shared cluster, starting it on first use. It skips tb if
// the binaries are absent and fails tb if the cluster could not start. If
// tb fails, its cleanup logs the tail of the servers' logs.
func (s *Shared) Get(tb testing.TB) *Cluster {
	tb.Helper()
	bins := findBinaries(tb)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cluster == nil && s.err == nil {
		s.cluster, s.err = start(bins, "")
		if s.err == nil {
			tb.Logf("kubetest: shared kube-apiserver up at %s", s.cluster.Config.Host)
		}
	}
	if s.err != nil {
		tb.Fatalf("kubetest: shared cluster: %v", s.err)
	}
	c := s.cluster
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("kubetest: the test failed; server logs kept in %s\n%s", c.dir, c.Logs())
			s.mu.Lock()
			s.failed = true
			s.mu.Unlock()
		}
	})
	return c
}

// Stop stops the shared cluster if it was started, keeping its logs if a
// test that used it failed. Call it from TestMain after m.Run.
func (s *Shared) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cluster != nil {
		s.cluster.stop(s.failed)
	}
}
