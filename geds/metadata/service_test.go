package metadata_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/internal/metrics"
	"github.com/cloudskin/cloudskin/store/bolt"
)

// clock is a settable clock for the service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const timeout = 10 * time.Second

// server is a metadata service on a real listener over a bbolt file.
type server struct {
	URL  string
	stop func()
}

func start(t *testing.T, dbPath, addr string, clk *clock) *server {
	t.Helper()
	st, err := bolt.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New("test", "test")
	host := &component.Host{
		Log: logging.Discard(), Metrics: reg.Registerer, Server: httpserver.New(logging.Discard(), reg),
		Store: st, DataDir: t.TempDir(), ControlPlaneURL: "http://" + ln.Addr().String(),
	}
	svc := metadata.NewService(metadata.Config{HolderTimeout: timeout, SweepInterval: time.Hour, Now: clk.Now})
	if err := svc.Setup(host); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); host.Server.Serve(ctx, ln) }()
	go func() { defer wg.Done(); svc.Run(ctx) }()
	var once sync.Once
	s := &server{URL: host.ControlPlaneURL}
	s.stop = func() { once.Do(func() { cancel(); wg.Wait(); st.Close() }) }
	t.Cleanup(s.stop)
	return s
}

func newClient(t *testing.T, url string) *metadata.Client {
	t.Helper()
	c, err := metadata.NewClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var ctx = context.Background()

func register(t *testing.T, c *metadata.Client, node, inc string) {
	t.Helper()
	must[metadata.Holder](t)(c.RegisterHolder(ctx, node, metadata.RegisterRequest{PeerURL: "http://127.0.0.1:1/" + node, Incarnation: inc}))
}

func createSealed(t *testing.T, c *metadata.Client, bucket, key, node, inc string, size int64) metadata.Object {
	t.Helper()
	o := must[metadata.Object](t)(c.CreateObject(ctx, bucket, key, metadata.CreateObjectRequest{Node: node, Incarnation: inc}))
	return must[metadata.Object](t)(c.SealObject(ctx, bucket, key, metadata.SealRequest{ID: o.ID, Node: node, Incarnation: inc, Size: size}))
}

func TestBuckets(t *testing.T) {
	s := start(t, filepath.Join(t.TempDir(), "state.db"), "127.0.0.1:0", &clock{t: time.Now()})
	c := newClient(t, s.URL)

	b := must[metadata.Bucket](t)(c.CreateBucket(ctx, "photos", metadata.CreateBucketRequest{}))
	if b.Persistent != "photos" || b.Mounted {
		t.Errorf("bucket = %+v, want persistent=photos", b)
	}
	must[metadata.Bucket](t)(c.CreateBucket(ctx, "archive", metadata.CreateBucketRequest{Persistent: "s3-archive", Mounted: true}))
	if _, err := c.CreateBucket(ctx, "photos", metadata.CreateBucketRequest{}); !errors.Is(err, metadata.ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	if _, err := c.CreateBucket(ctx, "Bad_Name", metadata.CreateBucketRequest{}); !errors.Is(err, metadata.ErrInvalidName) {
		t.Errorf("bad name: %v, want ErrInvalidName", err)
	}
	list := must[[]metadata.Bucket](t)(c.ListBuckets(ctx))
	if len(list) != 2 || list[0].Name != "archive" || list[1].Name != "photos" || list[0].Persistent != "s3-archive" {
		t.Errorf("list = %+v", list)
	}

	register(t, c, "n1", "i1")
	createSealed(t, c, "photos", "a.jpg", "n1", "i1", 3)
	if err := c.DeleteBucket(ctx, "photos"); !errors.Is(err, metadata.ErrBucketNotEmpty) {
		t.Errorf("deleting a bucket with objects: %v", err)
	}
	must[metadata.Object](t)(c.DeleteObject(ctx, "photos", "a.jpg"))
	if err := c.DeleteBucket(ctx, "photos"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucket(ctx, "photos"); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("deleted bucket: %v", err)
	}
}

func TestObjectLifecycle(t *testing.T) {
	s := start(t, filepath.Join(t.TempDir(), "state.db"), "127.0.0.1:0", &clock{t: time.Now()})
	c := newClient(t, s.URL)
	must[metadata.Bucket](t)(c.CreateBucket(ctx, "bkt", metadata.CreateBucketRequest{}))
	register(t, c, "n1", "i1")

	const key = "dir/sub dir/ü?#%2F.bin" // must survive the URL path
	o := must[metadata.Object](t)(c.CreateObject(ctx, "bkt", key, metadata.CreateObjectRequest{Node: "n1", Incarnation: "i1"}))
	if o.State != metadata.StateOpen || o.Tier != metadata.TierLocal || o.ID == "" || o.Holder.PeerURL != "http://127.0.0.1:1/n1" || o.Key != key {
		t.Fatalf("created %+v", o)
	}
	if _, err := c.CreateObject(ctx, "bkt", key, metadata.CreateObjectRequest{Node: "n1", Incarnation: "i1"}); !errors.Is(err, metadata.ErrExists) {
		t.Errorf("create over an open object: %v", err)
	}
	if _, err := c.CreateObject(ctx, "nobucket", "k", metadata.CreateObjectRequest{Node: "n1", Incarnation: "i1"}); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("create in a missing bucket: %v", err)
	}
	if _, err := c.CreateObject(ctx, "bkt", "a/../b", metadata.CreateObjectRequest{Node: "n1", Incarnation: "i1"}); !errors.Is(err, metadata.ErrInvalidName) {
		t.Errorf("create with ..: %v", err)
	}
	if _, err := c.CreateObject(ctx, "bkt", "k2", metadata.CreateObjectRequest{Node: "ghost", Incarnation: "i1"}); !errors.Is(err, metadata.ErrHolderDead) {
		t.Errorf("create by an unregistered holder: %v", err)
	}
	if _, err := c.SealObject(ctx, "bkt", key, metadata.SealRequest{ID: o.ID, Node: "n2", Incarnation: "x", Size: 1}); !errors.Is(err, metadata.ErrConflict) {
		t.Errorf("seal by another node: %v", err)
	}
	sealed := must[metadata.Object](t)(c.SealObject(ctx, "bkt", key, metadata.SealRequest{ID: o.ID, Node: "n1", Incarnation: "i1", Size: 11, ETag: "abc"}))
	if sealed.State != metadata.StateSealed || sealed.Size != 11 || sealed.Sealed.IsZero() {
		t.Fatalf("sealed %+v", sealed)
	}
	got := must[metadata.Object](t)(c.GetObject(ctx, "bkt", key))
	if got.ID != o.ID || got.Size != 11 || got.ETag != "abc" || got.Holder.PeerURL == "" {
		t.Fatalf("get %+v", got)
	}
	if _, err := c.SetTier(ctx, "bkt", key, metadata.TierRequest{ID: o.ID, Tier: metadata.TierBoth, S3ETag: strings.Repeat("e", 257)}); err == nil || !strings.Contains(err.Error(), "s3ETag") {
		t.Errorf("a 257-byte ETag: %v; want it refused", err)
	}
	both := must[metadata.Object](t)(c.SetTier(ctx, "bkt", key, metadata.TierRequest{ID: o.ID, Tier: metadata.TierBoth, S3ETag: "etag-1"}))
	if both.Tier != metadata.TierBoth || both.Holder == nil || both.S3ETag != "etag-1" {
		t.Fatalf("persisted %+v", both)
	}
	if got := must[metadata.Object](t)(c.GetObject(ctx, "bkt", key)); got.S3ETag != "etag-1" {
		t.Fatalf("get after persist: S3ETag %q, want etag-1", got.S3ETag)
	}
	spilled := must[metadata.Object](t)(c.SetTier(ctx, "bkt", key, metadata.TierRequest{ID: o.ID, Tier: metadata.TierS3}))
	if spilled.Tier != metadata.TierS3 || spilled.Holder != nil {
		t.Fatalf("spilled %+v", spilled)
	}
	if _, err := c.SetTier(ctx, "bkt", key, metadata.TierRequest{ID: o.ID, Tier: metadata.TierLocal}); err == nil {
		t.Error("tier local accepted")
	}
	deleted := must[metadata.Object](t)(c.DeleteObject(ctx, "bkt", key))
	if deleted.ID != o.ID {
		t.Errorf("deleted %+v", deleted)
	}
	if _, err := c.GetObject(ctx, "bkt", key); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
	var st *v1alpha1.Status
	if _, err := c.GetObject(ctx, "bkt", key); !errors.As(err, &st) || st.Code != http.StatusNotFound {
		t.Errorf("status of a missing object: %v", err)
	}
}

func TestListPagination(t *testing.T) {
	s := start(t, filepath.Join(t.TempDir(), "state.db"), "127.0.0.1:0", &clock{t: time.Now()})
	c := newClient(t, s.URL)
	must[metadata.Bucket](t)(c.CreateBucket(ctx, "bkt", metadata.CreateBucketRequest{}))
	must[metadata.Bucket](t)(c.CreateBucket(ctx, "bkt2", metadata.CreateBucketRequest{}))
	register(t, c, "n1", "i1")
	var want []string
	for i := range 7 {
		k := fmt.Sprintf("logs/%02d", i)
		want = append(want, k)
		createSealed(t, c, "bkt", k, "n1", "i1", int64(i))
	}
	createSealed(t, c, "bkt", "other", "n1", "i1", 1)
	createSealed(t, c, "bkt2", "logs/99", "n1", "i1", 1) // another bucket, same prefix

	var got []string
	token, pages := "", 0
	for {
		page := must[metadata.ObjectList](t)(c.ListObjects(ctx, "bkt", "logs/", token, 3))
		pages++
		for _, o := range page.Items {
			got = append(got, o.Key)
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || pages != 3 {
		t.Errorf("listed %v in %d pages, want %v in 3", got, pages, want)
	}
	all := must[metadata.ObjectList](t)(c.ListObjects(ctx, "bkt", "", "", 0))
	if len(all.Items) != 8 || all.NextToken != "" {
		t.Errorf("full list: %d items, token %q", len(all.Items), all.NextToken)
	}
	if _, err := c.ListObjects(ctx, "missing", "", "", 0); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("list of a missing bucket: %v", err)
	}
	resp, err := http.Get(s.URL + "/geds/v1/buckets/bkt/objects?limit=-4")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "limit") {
		t.Errorf("bad limit: %d %s", resp.StatusCode, body)
	}
}

func TestDeadHolder(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := start(t, filepath.Join(t.TempDir(), "state.db"), "127.0.0.1:0", clk)
	c := newClient(t, s.URL)
	must[metadata.Bucket](t)(c.CreateBucket(ctx, "bkt", metadata.CreateBucketRequest{}))
	register(t, c, "n1", "i1")
	register(t, c, "n2", "j1")
	local := createSealed(t, c, "bkt", "local", "n1", "i1", 5)
	persisted := createSealed(t, c, "bkt", "persisted", "n1", "i1", 5)
	must[metadata.Object](t)(c.SetTier(ctx, "bkt", "persisted", metadata.TierRequest{ID: persisted.ID, Tier: metadata.TierBoth}))
	open := must[metadata.Object](t)(c.CreateObject(ctx, "bkt", "open", metadata.CreateObjectRequest{Node: "n1", Incarnation: "i1"}))
	createSealed(t, c, "bkt", "other", "n2", "j1", 5)

	// n2 keeps heartbeating; n1 falls silent past the timeout.
	clk.Advance(timeout / 2)
	must[metadata.Holder](t)(c.Heartbeat(ctx, "n2", "j1"))
	clk.Advance(timeout/2 + time.Second)

	page := must[metadata.ObjectList](t)(c.ListObjects(ctx, "bkt", "", "", 0))
	states := map[string]string{}
	for _, o := range page.Items {
		states[o.Key] = string(o.State) + "/" + string(o.Tier)
	}
	want := map[string]string{"local": "lost/local", "persisted": "sealed/s3", "open": "lost/local", "other": "sealed/local"}
	for k, w := range want {
		if states[k] != w {
			t.Errorf("%s: %s, want %s", k, states[k], w)
		}
	}
	got := must[metadata.Object](t)(c.GetObject(ctx, "bkt", "local"))
	if got.State != metadata.StateLost || !strings.Contains(got.LostReason, "n1") {
		t.Errorf("local object of a dead holder: %+v", got)
	}
	if got := must[metadata.Object](t)(c.GetObject(ctx, "bkt", "persisted")); got.Tier != metadata.TierS3 || got.Holder != nil {
		t.Errorf("persisted object of a dead holder: %+v", got)
	}
	if _, err := c.SealObject(ctx, "bkt", "open", metadata.SealRequest{ID: open.ID, Node: "n1", Incarnation: "i1", Size: 1}); !errors.Is(err, metadata.ErrLost) {
		t.Errorf("seal after the writer was declared dead: %v", err)
	}
	if _, err := c.Heartbeat(ctx, "n1", "i1"); !errors.Is(err, metadata.ErrHolderDead) {
		t.Errorf("heartbeat of a dead holder: %v", err)
	}
	if _, err := c.RegisterHolder(ctx, "n1", metadata.RegisterRequest{PeerURL: "http://x:1", Incarnation: "i1"}); !errors.Is(err, metadata.ErrHolderDead) {
		t.Errorf("re-register with a dead incarnation: %v", err)
	}
	// A lost key may be created again; the dead holder's node rejoins with a new incarnation.
	register(t, c, "n1", "i2")
	again := createSealed(t, c, "bkt", "local", "n1", "i2", 9)
	if again.ID == local.ID || again.State != metadata.StateSealed {
		t.Errorf("recreated %+v", again)
	}
	holders := must[[]metadata.Holder](t)(c.ListHolders(ctx))
	if len(holders) != 2 || !holders[0].Alive || !holders[1].Alive {
		t.Errorf("holders %+v", holders)
	}
}

func TestRestartedHolderLosesItsObjects(t *testing.T) {
	s := start(t, filepath.Join(t.TempDir(), "state.db"), "127.0.0.1:0", &clock{t: time.Now()})
	c := newClient(t, s.URL)
	must[metadata.Bucket](t)(c.CreateBucket(ctx, "bkt", metadata.CreateBucketRequest{}))
	register(t, c, "n1", "i1")
	createSealed(t, c, "bkt", "k", "n1", "i1", 5)
	register(t, c, "n1", "i2") // the process restarted: its tier 0 is empty
	if o := must[metadata.Object](t)(c.GetObject(ctx, "bkt", "k")); o.State != metadata.StateLost {
		t.Errorf("object of the old incarnation: %+v", o)
	}
	if _, err := c.Heartbeat(ctx, "n1", "i1"); !errors.Is(err, metadata.ErrHolderDead) {
		t.Errorf("heartbeat of a replaced incarnation: %v", err)
	}
}

func TestLeave(t *testing.T) {
	s := start(t, filepath.Join(t.TempDir(), "state.db"), "127.0.0.1:0", &clock{t: time.Now()})
	c := newClient(t, s.URL)
	must[metadata.Bucket](t)(c.CreateBucket(ctx, "bkt", metadata.CreateBucketRequest{}))
	register(t, c, "n1", "i1")
	createSealed(t, c, "bkt", "k", "n1", "i1", 5)
	if err := c.Leave(ctx, "n1", "i1"); err != nil {
		t.Fatal(err)
	}
	if o := must[metadata.Object](t)(c.GetObject(ctx, "bkt", "k")); o.State != metadata.StateLost || !strings.Contains(o.LostReason, "left") {
		t.Errorf("object of a holder that left: %+v", o)
	}
}

func TestRestartKeepsStateAndGivesGrace(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	clk := &clock{t: time.Now()}
	s := start(t, db, "127.0.0.1:0", clk)
	c := newClient(t, s.URL)
	must[metadata.Bucket](t)(c.CreateBucket(ctx, "bkt", metadata.CreateBucketRequest{}))
	register(t, c, "n1", "i1")
	o := must[metadata.Object](t)(c.CreateObject(ctx, "bkt", "k", metadata.CreateObjectRequest{Node: "n1", Incarnation: "i1"}))
	s.stop()

	// Down for longer than the holder timeout: the holder could not heartbeat.
	clk.Advance(3 * timeout)
	s = start(t, db, "127.0.0.1:0", clk)
	c = newClient(t, s.URL)
	sealed, err := c.SealObject(ctx, "bkt", "k", metadata.SealRequest{ID: o.ID, Node: "n1", Incarnation: "i1", Size: 4})
	if err != nil || sealed.State != metadata.StateSealed {
		t.Fatalf("seal after restart: %+v, %v", sealed, err)
	}
	must[metadata.Holder](t)(c.Heartbeat(ctx, "n1", "i1"))
	if b := must[metadata.Bucket](t)(c.GetBucket(ctx, "bkt")); b.Name != "bkt" {
		t.Errorf("bucket after restart: %+v", b)
	}
}

func TestMetricsExposeTiers(t *testing.T) {
	s := start(t, filepath.Join(t.TempDir(), "state.db"), "127.0.0.1:0", &clock{t: time.Now()})
	c := newClient(t, s.URL)
	must[metadata.Bucket](t)(c.CreateBucket(ctx, "bkt", metadata.CreateBucketRequest{}))
	register(t, c, "n1", "i1")
	createSealed(t, c, "bkt", "k", "n1", "i1", 1234)
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`cloudskin_geds_metadata_bytes{tier="local"} 1234`, `cloudskin_geds_metadata_objects{state="sealed",tier="local"} 1`, `cloudskin_geds_metadata_holders{alive="true"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestReplace: a sealed object moves over a key in one request; the key
// then has the moved life, its old name is gone, the replaced life is
// returned, and a repeated request answers the same.
func TestReplace(t *testing.T) {
	s := start(t, filepath.Join(t.TempDir(), "state.db"), "127.0.0.1:0", &clock{t: time.Now()})
	c := newClient(t, s.URL)
	for _, b := range []string{"bkt", "staging"} {
		must[metadata.Bucket](t)(c.CreateBucket(ctx, b, metadata.CreateBucketRequest{}))
	}
	register(t, c, "n1", "i1")
	old := createSealed(t, c, "bkt", "k", "n1", "i1", 3)
	must[metadata.Object](t)(c.SetTier(ctx, "bkt", "k", metadata.TierRequest{ID: old.ID, Tier: metadata.TierBoth, S3ETag: "old-etag"}))
	next := createSealed(t, c, "staging", "tmp", "n1", "i1", 5)
	req := metadata.ReplaceRequest{FromBucket: "staging", FromKey: "tmp", ID: next.ID, Node: "n1", Incarnation: "i1"}

	if _, err := c.ReplaceObject(ctx, "bkt", "k", metadata.ReplaceRequest{FromBucket: "staging", FromKey: "tmp", ID: next.ID, Node: "n2", Incarnation: "x"}); !errors.Is(err, metadata.ErrConflict) {
		t.Fatalf("replace by another node: %v", err)
	}
	res := must[metadata.ReplaceResult](t)(c.ReplaceObject(ctx, "bkt", "k", req))
	if res.Object.ID != next.ID || res.Object.Key != "k" || res.Object.Size != 5 || !res.Object.StaleS3 || res.Object.S3ETag != "old-etag" || res.Object.Holder.PeerURL == "" {
		t.Fatalf("replaced object = %+v", res.Object)
	}
	if res.Replaced == nil || res.Replaced.ID != old.ID || res.Replaced.Tier != metadata.TierBoth {
		t.Fatalf("replaced life = %+v, want the old one", res.Replaced)
	}
	if got := must[metadata.Object](t)(c.GetObject(ctx, "bkt", "k")); got.ID != next.ID {
		t.Fatalf("GetObject after replace: id %s, want %s", got.ID, next.ID)
	}
	if _, err := c.GetObject(ctx, "staging", "tmp"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("the source is still there: %v", err)
	}
	again := must[metadata.ReplaceResult](t)(c.ReplaceObject(ctx, "bkt", "k", req))
	if again.Object.ID != next.ID || again.Replaced != nil {
		t.Fatalf("repeated replace = %+v", again)
	}

	must[metadata.Object](t)(c.CreateObject(ctx, "bkt", "busy", metadata.CreateObjectRequest{Node: "n1", Incarnation: "i1"}))
	other := createSealed(t, c, "staging", "tmp2", "n1", "i1", 1)
	busy := metadata.ReplaceRequest{FromBucket: "staging", FromKey: "tmp2", ID: other.ID, Node: "n1", Incarnation: "i1"}
	if _, err := c.ReplaceObject(ctx, "bkt", "busy", busy); !errors.Is(err, metadata.ErrExists) {
		t.Fatalf("replace over an object being written: %v", err)
	}
	if _, err := c.GetObject(ctx, "staging", "tmp2"); err != nil {
		t.Fatalf("a refused replace lost its source: %v", err)
	}
	if _, err := c.ReplaceObject(ctx, "nobucket", "k", busy); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("replace into a missing bucket: %v", err)
	}
}
