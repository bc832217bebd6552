package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

func condition(a v1alpha1.Application, typ string) v1alpha1.Condition {
	for _, c := range a.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return v1alpha1.Condition{}
}

// TestMobilityExampleDeploysMeetsItsObjectivesAndMoves applies
// examples/mobility/ to a fresh `cloudskin up`: the camera's source is
// placed at the edge (the only site near camera-1), the detector next to
// it; the detector's reported fps and latency meet the objectives; then
// the detector moves live to the cloud and goes on meeting them there.
func TestMobilityExampleDeploysMeetsItsObjectivesAndMoves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	if out, err := run(t, nil, "apply", "-f", "../../examples/mobility/", "--server", base); err != nil || !strings.Contains(out, "application/mobility created") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	met := func(a v1alpha1.Application) bool {
		return running(2)(a) && condition(a, "ObjectivesMet").Status == "True"
	}
	a := waitApp(t, base, "mobility", 60*time.Second, met)
	for _, c := range a.Status.Components {
		if c.Replicas[0].Site != "edge" {
			t.Fatalf("%s runs at %s, want edge (near camera-1)", c.Name, c.Replicas[0].Site)
		}
	}
	t.Logf("at the edge: %s", condition(a, "ObjectivesMet").Message)

	out, err := run(t, nil, "migrate", "mobility/detector", "--to", "cloud", "--server", base)
	if err != nil || !strings.Contains(out, "edge→cloud live") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	// The objectives are measured over 30 s: wait until the detector's
	// samples are all from the cloud.
	time.Sleep(31 * time.Second)
	a = waitApp(t, base, "mobility", 30*time.Second, met)
	if site := a.Status.Components[1].Replicas[0].Site; site != "cloud" {
		t.Fatalf("detector at %s after the move", site)
	}
	t.Logf("in the cloud: %s", condition(a, "ObjectivesMet").Message)

	// The Learning Plane has now seen the detector at both sites.
	var rec v1alpha1.PlacementRecommendation
	body := `{"block":"detector","sites":["edge","cloud"],"objectives":[{"metric":"fps","op":">=","value":25},{"metric":"latency_ms","op":"<=","value":100}]}`
	if code := postJSON(t, base+"/api/v1/recommendations/placement", body, &rec); code != 200 || len(rec.Sites) != 2 {
		t.Fatalf("recommendation: %d %+v", code, rec)
	}
	for _, s := range rec.Sites {
		if s.Confidence <= 0 || s.Predicted["fps"] <= 0 {
			t.Errorf("no history for %s: %+v", s.Site, s)
		}
	}
	t.Logf("recommendation: %+v", rec.Sites)
}

func postJSON(t *testing.T, url, body string, out any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp.StatusCode
}
