package miniotest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cloudskin/cloudskin/internal/miniotest"
)

// TestStopRestartKeepsData checks what outage tests rely on: Stop makes the
// address refuse connections, Restart brings the server back on the same
// address with the same objects and credentials.
func TestStopRestartKeepsData(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	client := srv.Client()
	if err := client.MakeBucket(ctx, "keep", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, "keep", "k", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	addr := srv.Endpoint()

	srv.Stop()
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Stop", addr)
	}
	srv.Stop() // stopping twice is fine

	srv.Restart()
	if srv.Endpoint() != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, srv.Endpoint())
	}
	obj, err := srv.Client().GetObject(ctx, "keep", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil || string(got) != "hello" {
		t.Fatalf("after Restart: read %q, %v; want \"hello\"", got, err)
	}
}

// TestCredentialsAreChecked makes sure the generated root credentials are
// the only ones the server takes, so tests exercise authentication.
func TestCredentialsAreChecked(t *testing.T) {
	srv := miniotest.Start(t)
	if srv.AccessKey() == "" || len(srv.SecretKey()) < 8 {
		t.Fatalf("credentials %q/%q too short for MinIO", srv.AccessKey(), srv.SecretKey())
	}
	bad, err := minio.New(srv.Endpoint(), &minio.Options{MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.ListBuckets(context.Background())
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) || resp.StatusCode != 403 {
		t.Fatalf("anonymous ListBuckets: err = %v, want a 403", err)
	}
}
