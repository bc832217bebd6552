package service_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/gateway"
	"github.com/cloudskin/cloudskin/geds/gateway/backendtest"
	"github.com/cloudskin/cloudskin/geds/gedstest"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/geds/service"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/internal/metrics"
	"github.com/cloudskin/cloudskin/internal/miniotest"
)

func openNode(t *testing.T, metaURL, node string, p geds.Persistent) *geds.Client {
	t.Helper()
	c, err := geds.Open(context.Background(), geds.Options{
		NodeID: node, Dir: t.TempDir(), Limit: 256 << 20, MetadataURL: metaURL, Persistent: p,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The GEDS adapter meets the contract every gateway backend meets.
func TestBackendContract(t *testing.T) {
	limits := backendtest.Limits{
		DotSegments: "GEDS keys have no . or .. path segments (they name files in tier 0)",
	}
	backendtest.RunWith(t, limits, func(t *testing.T) gateway.Backend {
		m := gedstest.StartMetadata(t, 10*time.Second)
		return service.NewBackend(openNode(t, m.URL, "gw", nil))
	})
}

// runGateway runs the gateway component as `cloudskin up` does.
func runGateway(t *testing.T, cfg service.GatewayConfig) *service.Gateway {
	t.Helper()
	reg := metrics.New("test", "test")
	host := &component.Host{
		Log: logging.Discard(), Metrics: reg.Registerer, Server: httpserver.New(logging.Discard(), reg),
		DataDir: t.TempDir(), ControlPlaneURL: cfg.MetadataURL,
	}
	gw := service.NewGateway(cfg)
	if err := gw.Setup(host); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); gw.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return gw
}

// Objects put through the S3 gateway are GEDS objects: another node reads
// them peer to peer; ?spill moves one to the persistency tier (a real
// MinIO), from where the gateway still serves it.
func TestGatewayOverGEDSWithAPersistencyTier(t *testing.T) {
	ctx := context.Background()
	minioSrv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{Endpoint: minioSrv.Endpoint(), AccessKey: minioSrv.AccessKey(), SecretKey: minioSrv.SecretKey(), BucketPrefix: "geds-"})
	if err != nil {
		t.Fatal(err)
	}
	m := gedstest.StartMetadata(t, 10*time.Second)
	keys := service.Keys{AccessKey: "test-access", SecretKey: "test-secret-key"}
	gw := runGateway(t, service.GatewayConfig{
		Listen: "127.0.0.1:0", Keys: keys, Dir: t.TempDir(), Limit: 64 << 20,
		Persistent: tier, MetadataURL: m.URL,
	})
	endpoint := gw.URL()[len("http://"):]
	s3, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(keys.AccessKey, keys.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	waitForGateway(t, s3)
	if err := s3.MakeBucket(ctx, "shuffle", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tier.EnsureBucket(ctx, "shuffle"); err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	for _, key := range []string{"part-0", "part-1"} {
		if _, err := s3.PutObject(ctx, "shuffle", key, bytes.NewReader(payload), int64(len(payload)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Another node of the same GEDS reads what S3 wrote, from the gateway's tier 0.
	reader := openNode(t, m.URL, "worker", tier)
	r, err := reader.Open(ctx, "shuffle", "part-0")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(payload))
	if n, err := r.ReadAt(got, 0); (err != nil && err != io.EOF) || n != len(payload) || !bytes.Equal(got, payload) || r.Local() {
		t.Fatalf("peer read of an S3-written object: %d bytes, %v, local %v", n, err, r.Local())
	}
	r.Close()

	// ?spill through S3 moves part-1 into MinIO and out of tier 0.
	post(t, gw.URL()+"/shuffle/part-1?spill", keys, http.StatusNoContent)
	if st, err := minioSrv.Client().StatObject(ctx, "geds-shuffle", "part-1", minio.StatObjectOptions{}); err != nil || st.Size != int64(len(payload)) {
		t.Fatalf("spilled object in MinIO: %+v %v", st, err)
	}
	info, err := reader.Stat(ctx, "shuffle", "part-1")
	if err != nil || info.Tier != geds.TierS3 {
		t.Fatalf("after spill: %+v %v", info, err)
	}
	obj, err := s3.GetObject(ctx, "shuffle", "part-1", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(back, payload) {
		t.Fatalf("read-through after spill: %d bytes, %v", len(back), err)
	}
	post(t, gw.URL()+"/shuffle/missing?persist", keys, http.StatusNotFound)
}

// post sends a SigV4-signed POST, as an S3 client would.
func post(t *testing.T, url string, keys service.Keys, want int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	req = signer.SignV4(*req, keys.AccessKey, keys.SecretKey, "", "us-east-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d: %s", url, resp.StatusCode, want, body)
	}
}

func waitForGateway(t *testing.T, s3 *minio.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s3.ListBuckets(context.Background())
		var netErr net.Error
		if err == nil || !errors.As(err, &netErr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Keys come from the environment, or are made once and kept.
func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(service.EnvAccessKey, "")
	t.Setenv(service.EnvSecretKey, "")
	first, made, err := service.LoadKeys(dir)
	if err != nil || !made || first.AccessKey == "" || len(first.SecretKey) < 30 {
		t.Fatalf("first keys: %+v %v %v", first, made, err)
	}
	again, made, err := service.LoadKeys(dir)
	if err != nil || made || again != first {
		t.Fatalf("kept keys: %+v %v %v", again, made, err)
	}
	t.Setenv(service.EnvAccessKey, "a")
	if _, _, err := service.LoadKeys(dir); err == nil {
		t.Fatal("an access key without a secret key was accepted")
	}
	t.Setenv(service.EnvSecretKey, "b")
	if k, _, err := service.LoadKeys(filepath.Join(dir, "other")); err != nil || k.AccessKey != "a" || k.SecretKey != "b" {
		t.Fatalf("keys from the environment: %+v %v", k, err)
	}
}

// With a real MinIO as the persistency tier stopped mid-run, a GEDS node
// keeps taking writes until tier 0 is full, then refuses them with
// ErrTierFull (quickly, naming the failure) and loses nothing; when MinIO
// comes back the spiller's retries drain tier 0 into it and writes resume.
func TestRealS3OutageBackPressureAndRecovery(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{
		Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(), BucketPrefix: "geds-",
		Transport: &http.Transport{ResponseHeaderTimeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := gedstest.StartMetadata(t, 10*time.Second)
	const object, limit = 256 << 10, 4 << 20 // 16 objects fill tier 0
	c, err := geds.Open(ctx, geds.Options{
		NodeID: "spiller", Dir: t.TempDir(), Limit: limit, MetadataURL: m.URL, Persistent: tier,
		SpillAt: 0.5, SpillTo: 0.25, FullWait: time.Second, SpillBackoffMax: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.CreateBucket(ctx, "frames"); err != nil {
		t.Fatal(err)
	}
	if err := tier.EnsureBucket(ctx, "frames"); err != nil {
		t.Fatal(err)
	}
	data := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, object) }
	write := func(i int) error {
		w, err := c.Create(ctx, "frames", fmt.Sprint("f", i))
		if err != nil {
			return err
		}
		if _, err := w.Write(data(i)); err != nil {
			w.Abort(ctx)
			return err
		}
		return w.Seal(ctx)
	}

	srv.Stop()
	written := 0
	for ; ; written++ {
		if written > 2*limit/object {
			t.Fatalf("%d objects written into a %d-byte tier 0 with S3 down", written, limit)
		}
		err := write(written)
		if err == nil {
			continue
		}
		if !errors.Is(err, geds.ErrTierFull) {
			t.Fatalf("write %d with S3 down: %v, want ErrTierFull", written, err)
		}
		break
	}
	if written < limit/object/2 {
		t.Fatalf("only %d objects fit before back-pressure", written)
	}
	t.Logf("S3 down: %d objects of %d KiB written, then back-pressure", written, object>>10)

	srv.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for write(written) != nil {
		if time.Now().After(deadline) {
			t.Fatal("writes never resumed after S3 came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	written++
	for i := range written {
		r, err := c.Open(ctx, "frames", fmt.Sprint("f", i))
		if err != nil {
			t.Fatalf("f%d after the outage: %v", i, err)
		}
		got := make([]byte, object)
		if n, err := r.ReadAt(got, 0); n != object || (err != nil && err != io.EOF) || !bytes.Equal(got, data(i)) {
			t.Fatalf("f%d after the outage: %d bytes, %v", i, n, err)
		}
		r.Close()
	}
	spilled := 0
	for range srv.Client().ListObjects(ctx, "geds-frames", minio.ListObjectsOptions{}) {
		spilled++
	}
	if spilled == 0 {
		t.Fatal("nothing reached MinIO after it came back")
	}
	t.Logf("after the outage: all %d objects readable, %d of them spilled to MinIO", written, spilled)
}
