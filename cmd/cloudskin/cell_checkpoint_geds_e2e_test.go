package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/miniotest"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
)

// TestCellResumesFromItsGEDSCheckpointWhenItsSiteIsLost is the recovery of
// TestCellResumesFromItsCheckpointWhenItsSiteIsLost with the checkpoints in
// GEDS (spec.cells.checkpoints: geds) and a real MinIO as GEDS's
// persistency tier: a migratable cell, checkpointed every 150 ms at a site
// served by a separate agent process, whose checkpoint is in MinIO by the
// time its status names it; the agent is killed with SIGKILL (no notice),
// and the control plane resumes the cell elsewhere from the checkpoint,
// read back through GEDS: output and exit status equal a run that was
// never interrupted, once.
func TestCellResumesFromItsGEDSCheckpointWhenItsSiteIsLost(t *testing.T) {
	t.Parallel()
	store := miniotest.Start(t)
	inS3 := func(t *testing.T, run v1alpha1.CellRun) {
		t.Helper()
		if cp := run.Status.Checkpoint; cp == nil || !slices.Contains(checkpointsInS3(t, store, run.Metadata.Name), run.Metadata.Name+"/"+cp.ID+".snap") {
			t.Fatalf("the checkpoint %+v of %s (at %s) is not in MinIO; the bucket holds %q", cp, run.Metadata.Name, run.Status.Site, checkpointsInS3(t, store, run.Metadata.Name))
		}
	}
	resumeAfterSiteLoss(t, siteLoss{
		spec: "  geds:\n    persistent:\n      endpoint: " + store.Endpoint() + "\n      bucketPrefix: geds-\n" +
			"  cells:\n    checkpoints: geds\n",
		env: []string{"CLOUDSKIN_GEDS_S3_ACCESS_KEY=" + store.AccessKey(), "CLOUDSKIN_GEDS_S3_SECRET_KEY=" + store.SecretKey()},
		ready: func(t *testing.T, up *process) {
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(up.output(), `"msg":"GEDS node open","component":"cell-checkpoints-geds"`); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the control plane's GEDS node for checkpoints never opened")
				}
			}
		},
		// The checkpoint the status names (the last one spot took: the
		// site is not judged lost for another second) was in S3 before
		// its upload was acknowledged, so before the status could name it.
		killed: func(t *testing.T, run v1alpha1.CellRun) {
			if run.Status.Site != "spot" {
				t.Fatalf("the run left spot before the site was judged lost: %+v", run.Status)
			}
			inS3(t, run)
		},
		resumed: func(t *testing.T, run v1alpha1.CellRun) {
			if run.Status.Checkpoint != nil {
				inS3(t, run)
			}
		},
	})
}

// checkpointsInS3 lists a run's objects in the S3 bucket of GEDS's
// checkpoint bucket.
func checkpointsInS3(t *testing.T, store *miniotest.Server, run string) []string {
	t.Helper()
	var keys []string
	opts := minio.ListObjectsOptions{Prefix: run + "/", Recursive: true}
	for o := range store.Client().ListObjects(context.Background(), "geds-"+cells.CheckpointBucket, opts) {
		if o.Err != nil {
			t.Fatalf("listing MinIO: %v", o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}
