package printer

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

func testSites(now time.Time) []v1alpha1.Site {
	created := now.Add(-90 * time.Minute)
	beat := now.Add(-2 * time.Second)
	s := v1alpha1.NewSite("edge", v1alpha1.SiteSpec{
		Type:     v1alpha1.SiteEdge,
		Capacity: v1alpha1.Capacity{Cores: 2, Memory: v1alpha1.MustParseQuantity("2Gi"), Disk: v1alpha1.MustParseQuantity("20Gi")},
	})
	s.Metadata.Labels = map[string]string{"tier": "edge", "arch": "amd64"}
	s.Metadata.CreationTimestamp = &created
	s.Status = v1alpha1.SiteStatus{Phase: v1alpha1.SiteReady, LastHeartbeatTime: &beat, Agent: v1alpha1.AgentInfo{Hostname: "box1"}}
	return []v1alpha1.Site{s}
}

func TestSitesTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := Sites(&buf, Table, testSites(now), now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("table has %d lines:\n%s", len(lines), buf.String())
	}
	fields := strings.Fields(lines[1])
	want := []string{"edge", "edge", "Ready", "2", "2Gi", "2s", "ago", "90m", "ago"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Fatalf("row = %q, want %q", fields, want)
	}
	buf.Reset()
	if err := Sites(&buf, Wide, testSites(now), now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "arch=amd64,tier=edge") || !strings.Contains(buf.String(), "box1") {
		t.Fatalf("wide table lacks labels or agent:\n%s", buf.String())
	}
}

func TestSitesJSONAndYAMLCarryTheWholeObject(t *testing.T) {
	now := time.Now()
	for _, f := range []Format{JSON, YAML} {
		var buf bytes.Buffer
		if err := Sites(&buf, f, testSites(now), now); err != nil {
			t.Fatal(err)
		}
		var list v1alpha1.SiteList
		var err error
		if f == JSON {
			err = json.Unmarshal(buf.Bytes(), &list)
		} else {
			err = yaml.Unmarshal(buf.Bytes(), &list)
		}
		if err != nil {
			t.Fatalf("%s output does not decode: %v\n%s", f, err, buf.String())
		}
		if len(list.Items) != 1 || list.Items[0].Spec.Capacity.Memory.String() != "2Gi" || list.Kind != "SiteList" {
			t.Fatalf("%s round trip = %+v", f, list)
		}
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat(""); err != nil || f != Table {
		t.Fatalf(`ParseFormat("") = %q, %v`, f, err)
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Fatalf("ParseFormat(xml): err = %v", err)
	}
}
