package sites_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/sites"
	"github.com/cloudskin/cloudskin/store/bolt"
)

// clock is a manual clock: tests move time, nothing sleeps.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func edgeSite() v1alpha1.Site {
	s := v1alpha1.NewSite("edge", v1alpha1.SiteSpec{
		Type:     v1alpha1.SiteEdge,
		Capacity: v1alpha1.Capacity{Cores: 2, Memory: v1alpha1.MustParseQuantity("2Gi")},
	})
	s.Metadata.Labels = map[string]string{"tier": "edge"}
	return s
}

func openRegistry(t *testing.T, path string, c *clock) (*sites.Registry, func()) {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return sites.NewRegistry(st, 6*time.Second, c.now), func() { st.Close() }
}

func TestPhase(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		last    time.Time
		now     time.Time
		want    v1alpha1.SitePhase
		message string
	}{
		{time.Time{}, base, v1alpha1.SiteNotReady, "no heartbeat received yet"},
		{base, base, v1alpha1.SiteReady, ""},
		{base, base.Add(6 * time.Second), v1alpha1.SiteReady, ""},
		{base, base.Add(6*time.Second + time.Millisecond), v1alpha1.SiteNotReady, "no heartbeat for 6s (limit 6s)"},
		{base, base.Add(time.Hour), v1alpha1.SiteNotReady, "no heartbeat for 1h0m0s"},
	}
	for _, c := range cases {
		phase, msg := sites.Phase(c.last, c.now, 6*time.Second)
		if phase != c.want || !strings.Contains(msg, c.message) {
			t.Errorf("Phase(last=%v, now=%v) = %s %q; want %s %q", c.last, c.now, phase, msg, c.want, c.message)
		}
	}
}

func TestRegisterHeartbeatAndSilence(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	reg, closeStore := openRegistry(t, filepath.Join(t.TempDir(), "state.db"), c)
	defer closeStore()
	ctx := context.Background()

	got, created, err := reg.Register(ctx, edgeSite())
	if err != nil || !created {
		t.Fatalf("Register = created %v, err %v", created, err)
	}
	if got.Status.Phase != v1alpha1.SiteReady {
		t.Fatalf("phase right after registering = %s", got.Status.Phase)
	}

	c.advance(5 * time.Second)
	if _, err := reg.Heartbeat(ctx, "edge", v1alpha1.Heartbeat{Agent: v1alpha1.AgentInfo{Version: "v1"}}); err != nil {
		t.Fatal(err)
	}
	c.advance(5 * time.Second) // 10 s after registering, 5 s after the heartbeat
	got, _ = reg.Get(ctx, "edge")
	if got.Status.Phase != v1alpha1.SiteReady || got.Status.Agent.Version != "v1" {
		t.Fatalf("after heartbeat: phase %s agent %+v", got.Status.Phase, got.Status.Agent)
	}

	c.advance(2 * time.Second) // 7 s of silence
	list, err := reg.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if list[0].Status.Phase != v1alpha1.SiteNotReady || !strings.Contains(list[0].Status.Message, "no heartbeat for 7s") {
		t.Fatalf("after 7 s of silence: %s %q", list[0].Status.Phase, list[0].Status.Message)
	}

	if _, err := reg.Heartbeat(ctx, "edge", v1alpha1.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := reg.Get(ctx, "edge"); got.Status.Phase != v1alpha1.SiteReady {
		t.Fatalf("heartbeat did not bring the site back: %s", got.Status.Phase)
	}
}

func TestReRegisterKeepsCreationTime(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	reg, closeStore := openRegistry(t, filepath.Join(t.TempDir(), "state.db"), c)
	defer closeStore()
	first, _, _ := reg.Register(context.Background(), edgeSite())
	c.advance(time.Minute)
	updated := edgeSite()
	updated.Spec.Capacity.Cores = 4
	second, created, err := reg.Register(context.Background(), updated)
	if err != nil || created {
		t.Fatalf("re-register: created %v err %v", created, err)
	}
	if !second.Metadata.CreationTimestamp.Equal(*first.Metadata.CreationTimestamp) || second.Spec.Capacity.Cores != 4 {
		t.Fatalf("re-register: creation %v (was %v), cores %d", second.Metadata.CreationTimestamp, first.Metadata.CreationTimestamp, second.Spec.Capacity.Cores)
	}
}

func TestSitesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	reg, closeStore := openRegistry(t, path, c)
	if _, _, err := reg.Register(context.Background(), edgeSite()); err != nil {
		t.Fatal(err)
	}
	closeStore()

	c.advance(time.Minute)
	reg, closeStore = openRegistry(t, path, c)
	defer closeStore()
	got, err := reg.Get(context.Background(), "edge")
	if err != nil {
		t.Fatal(err)
	}
	if got.Metadata.Labels["tier"] != "edge" || got.Spec.Capacity.Memory.String() != "2Gi" {
		t.Fatalf("site after restart = %+v", got)
	}
	if got.Status.Phase != v1alpha1.SiteNotReady {
		t.Fatalf("a site silent for a minute across a restart is %s, want NotReady", got.Status.Phase)
	}
}

func TestRejectsBadSitesAndUnknownNames(t *testing.T) {
	c := &clock{t: time.Now()}
	reg, closeStore := openRegistry(t, filepath.Join(t.TempDir(), "state.db"), c)
	defer closeStore()
	ctx := context.Background()
	bad := edgeSite()
	bad.Metadata.Name = "Edge_1"
	if _, _, err := reg.Register(ctx, bad); err == nil || !strings.Contains(err.Error(), "metadata.name") {
		t.Fatalf("bad name: err = %v", err)
	}
	bad = edgeSite()
	bad.Spec.Capacity.Cores = 0
	if _, _, err := reg.Register(ctx, bad); err == nil || !strings.Contains(err.Error(), "spec.capacity.cores") {
		t.Fatalf("zero cores: err = %v", err)
	}
	if _, err := reg.Heartbeat(ctx, "ghost", v1alpha1.Heartbeat{}); !errors.Is(err, sites.ErrNotFound) {
		t.Fatalf("heartbeat for unknown site: err = %v", err)
	}
	if err := reg.Delete(ctx, "ghost"); !errors.Is(err, sites.ErrNotFound) {
		t.Fatalf("delete unknown site: err = %v", err)
	}
}
