package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cloudskin/cloudskin/geds/gateway"
)

// BenchmarkPutGet measures PUT and GET of one object through the gateway
// on loopback, directory backend, minio-go as the client (which signs PUT
// bodies chunk by chunk over plain HTTP).
func BenchmarkPutGet(b *testing.B) {
	backend, err := gateway.NewDirBackend(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{AccessKey: testAccessKey, SecretKey: testSecretKey, TempDir: b.TempDir(), Backend: backend})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	srv := httptest.NewServer(gw)
	defer srv.Close()
	client, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(testAccessKey, testSecretKey, ""), Region: testRegion, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := client.MakeBucket(ctx, "bench", minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{4 << 10, 1 << 20} {
		data := randomBytes(b, size)
		name := fmt.Sprintf("%dKiB", size>>10)
		b.Run("PUT/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := client.PutObject(ctx, "bench", name, bytes.NewReader(data), int64(size), minio.PutObjectOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("GET/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			buf := make([]byte, size)
			for b.Loop() {
				obj, err := client.GetObject(ctx, "bench", name, minio.GetObjectOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(obj, buf); err != nil {
					b.Fatal(err)
				}
				obj.Close()
			}
		})
	}
}
