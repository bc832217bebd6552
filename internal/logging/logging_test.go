package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestAutoIsJSONWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("started", "site", "edge")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("auto format on a buffer is not JSON: %q", buf.String())
	}
	if rec["msg"] != "started" || rec["site"] != "edge" {
		t.Fatalf("record = %v", rec)
	}
}

func TestTextAndLevel(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "warn", FormatText)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "n", 1)
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, "msg=shown n=1") {
		t.Fatalf("text output = %q", out)
	}
}

func TestBadInputsAreNamed(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "loud", FormatText); err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Fatalf("bad level: err = %v", err)
	}
	if _, err := New(&bytes.Buffer{}, "info", "xml"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Fatalf("bad format: err = %v", err)
	}
}
