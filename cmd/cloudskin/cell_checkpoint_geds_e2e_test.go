package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
	dir := t.TempDir()
	conf := filepath.Join(dir, "continuum.yaml")
	yaml := "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata:\n  name: t\nspec:\n" +
		"  heartbeat:\n    interval: 200ms\n    notReadyAfter: 1s\n" +
		"  geds:\n    persistent:\n      endpoint: " + store.Endpoint() + "\n      bucketPrefix: geds-\n" +
		"  cells:\n    checkpoints: geds\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CLOUDSKIN_GEDS_S3_ACCESS_KEY=" + store.AccessKey(), "CLOUDSKIN_GEDS_S3_SECRET_KEY=" + store.SecretKey()}
	up, base := startWith(t, env, "up", "-f", conf, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	spot := exec.Command(binary, "agent", "--server", base, "--name", "spot", "--interval", "200ms", "--listen", "127.0.0.1:0")
	spot.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "spot-cache"))
	if err := spot.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spot.Process.Kill(); spot.Wait() })
	waitSites(t, base, 10*time.Second, func(s map[string]v1alpha1.Site) bool { return s["spot"].Status.Phase == v1alpha1.SiteReady })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(up.output(), `"msg":"GEDS node open","component":"cell-checkpoints-geds"`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the control plane's GEDS node for checkpoints never opened")
		}
	}

	wasm := filepath.Join(dir, "slow.wasm")
	if out, err := run(t, nil, "cell", "cc", "--migratable", "testdata/slow.c", "-o", wasm); err != nil {
		t.Fatalf("cell cc: %v\n%s", err, out)
	}
	straight, err := exec.Command(binary, "cell", "run", wasm).Output()
	straightCode := exitCode(err)
	remote := exec.Command(binary, "cell", "run", "--server", base, "--site", "spot", "--checkpoint-every", "150ms", wasm)
	var remoteOut bytes.Buffer
	remote.Stdout = &remoteOut
	if err := remote.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill the site's agent once the cell has a checkpoint.
	var name string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var list struct{ Items []v1alpha1.CellRun }
		getJSON(t, base+"/api/v1/cells", &list)
		if len(list.Items) == 1 && list.Items[0].Status.Checkpoint != nil {
			name = list.Items[0].Metadata.Name
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cell never checkpointed at spot")
		}
	}
	if err := spot.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// The checkpoint the status names (the last one spot took: the site is
	// not judged lost for another second) was in S3 before its upload was
	// acknowledged, so before the status could name it.
	var killed v1alpha1.CellRun
	getJSON(t, base+"/api/v1/cells/"+name, &killed)
	if id := killed.Status.Checkpoint.ID; killed.Status.Site != "spot" || !slices.Contains(checkpointsInS3(t, store, name), name+"/"+id+".snap") {
		t.Fatalf("checkpoint %s of %s (at %s) is not in MinIO; the bucket holds %q", id, name, killed.Status.Site, checkpointsInS3(t, store, name))
	}

	err = remote.Wait()
	if remoteOut.String() != string(straight) || exitCode(err) != straightCode {
		t.Fatalf("exit %d, output\n%s\nwant exit %d, output\n%s", exitCode(err), remoteOut.String(), straightCode, straight)
	}
	var after v1alpha1.CellRun
	getJSON(t, base+"/api/v1/cells/"+name, &after)
	ms := after.Status.Migrations
	if len(ms) != 1 || !ms[0].Recovered || ms[0].From != "spot" || after.Status.Attempt != 1 || after.Status.Site == "spot" {
		t.Fatalf("status after recovery: %+v", after.Status)
	}
	if cp := after.Status.Checkpoint; cp != nil {
		if keys := checkpointsInS3(t, store, name); !slices.Contains(keys, name+"/"+cp.ID+".snap") {
			t.Errorf("the run's last checkpoint %s is not in MinIO; the bucket holds %q", cp.ID, keys)
		}
	}
	t.Logf("resumed at %s from the GEDS checkpoint at host call %d, %s after it (work redone since)", after.Status.Site, ms[0].HostCall, ms[0].Downtime)
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
