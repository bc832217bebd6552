package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cloudskin/cloudskin/internal/miniotest"
)

// TestStreamsTierToGEDSThroughUp runs up with spec.streams.lts: geds and a
// real MinIO as GEDS's persistency tier: events written to a stream move,
// once their chunk is old enough, into GEDS and on to MinIO, and the
// stream reads the same after a restart of up, which empties every GEDS
// tier 0, so the old events come back from MinIO.
func TestStreamsTierToGEDSThroughUp(t *testing.T) {
	t.Parallel()
	store := miniotest.Start(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	conf := filepath.Join(dir, "continuum.yaml")
	yaml := "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata:\n  name: t\nspec:\n" +
		"  geds:\n    persistent:\n      endpoint: " + store.Endpoint() + "\n      bucketPrefix: geds-\n" +
		"  streams:\n    lts: geds\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CLOUDSKIN_GEDS_S3_ACCESS_KEY=" + store.AccessKey(), "CLOUDSKIN_GEDS_S3_SECRET_KEY=" + store.SecretKey()}
	up, _ := startWith(t, env, "up", "-f", conf, "--listen", "127.0.0.1:0", "--data", data)
	addr := streamAddr(t, up)
	stream := func(stdin string, args ...string) string {
		t.Helper()
		out, err := runIn(t, stdin, append([]string{"stream", "--server", addr, "--data", data}, args...)...)
		if err != nil {
			t.Fatalf("cloudskin stream %v: %v\n%s", args, err, out)
		}
		return out
	}
	var lines strings.Builder
	for i := range 200 {
		fmt.Fprintf(&lines, "reading %03d\n", i)
	}
	stream("", "create", "farm/soil")
	stream(lines.String(), "write", "farm/soil", "--key", "probe-1")

	// The chunk is tiered once it is 10 s old (the store's ChunkAge).
	deadline := time.Now().Add(60 * time.Second)
	for chunks := 0; chunks == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no chunk of the stream reached MinIO in 60 s; up said:\n%s", up.output())
		}
		time.Sleep(500 * time.Millisecond)
		for obj := range store.Client().ListObjects(context.Background(), "geds-streams", minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err == nil && strings.HasSuffix(obj.Key, ".chunk") {
				chunks++
			}
		}
	}
	if out := stream("", "read", "farm/soil", "--from", "start"); out != lines.String() {
		t.Fatalf("read after tiering:\n%s", out)
	}

	if _, err := up.interrupt(t); err != nil {
		t.Fatalf("up exited with %v", err)
	}
	up, _ = startWith(t, env, "up", "-f", conf, "--listen", "127.0.0.1:0", "--data", data)
	addr = streamAddr(t, up)
	// Until the stream store's GEDS node is open again its LTS is
	// unavailable, and so are the tiered events: a read says so, then
	// succeeds.
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, err := runIn(t, "", "stream", "--server", addr, "--data", data, "read", "farm/soil", "--from", "start")
		if err == nil {
			if out != lines.String() {
				t.Fatalf("read after a restart (GEDS tier 0 emptied):\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read after a restart: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
