package geds_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/gedstest"
)

// Two GEDS nodes in one process share objects through one metadata
// service: the edge writes an object, the cloud reads it from the edge's
// tier 0, then asks for a cache copy of its own; the edge overwrites the
// object in one step with Rename, and the cloud's next Open finds the new
// bytes, never a stale copy. In a deployment, the metadata service runs
// inside `cloudskin up` and each node is a process of its own.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "geds-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	meta, err := gedstest.Run(filepath.Join(dir, "metadata.db"), time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	defer meta.Stop()
	open := func(name string) *geds.Client {
		c, err := geds.Open(ctx, geds.Options{
			NodeID: name, Dir: filepath.Join(dir, name), Limit: 64 << 20, MetadataURL: meta.URL,
		})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	edge, cloud := open("edge"), open("cloud")
	defer edge.Close()
	defer cloud.Close()

	put := func(bucket, key, text string) {
		w, err := edge.Create(ctx, bucket, key)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := io.WriteString(w, text); err != nil {
			log.Fatal(err)
		}
		if err := w.Seal(ctx); err != nil { // immutable and visible from now on
			log.Fatal(err)
		}
	}
	read := func(r *geds.Reader, err error) string {
		if err != nil {
			log.Fatal(err)
		}
		defer r.Close()
		b := make([]byte, r.Size())
		if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
			log.Fatal(err)
		}
		return fmt.Sprintf("%q (local: %t)", b, r.Local())
	}

	for _, b := range []string{"frames", "staging"} {
		if err := edge.CreateBucket(ctx, b); err != nil {
			log.Fatal(err)
		}
	}
	put("frames", "cam-1/0001", "first frame")
	fmt.Println("cloud reads", read(cloud.Open(ctx, "frames", "cam-1/0001")))
	fmt.Println("cloud caches", read(cloud.OpenCached(ctx, "frames", "cam-1/0001")))

	put("staging", "next", "second take")
	if err := edge.Rename(ctx, "staging", "next", "frames", "cam-1/0001"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("cloud reads", read(cloud.Open(ctx, "frames", "cam-1/0001")))
	// Output:
	// cloud reads "first frame" (local: false)
	// cloud caches "first frame" (local: true)
	// cloud reads "second take" (local: false)
}
