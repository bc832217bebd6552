package httpapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/internal/httpapi"
)

// Small answers are indented for people; large ones are compact; both are
// the same JSON.
func TestWriteJSONIndentsOnlySmallAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		v        any
		indented bool
	}{
		{"small", map[string]any{"a": 1, "b": []int{1, 2}}, true},
		{"large", map[string]string{"data": strings.Repeat("x", 100<<10)}, false},
	} {
		rec := httptest.NewRecorder()
		httpapi.WriteJSON(rec, 201, tc.v)
		body := rec.Body.String()
		if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json" || !strings.HasSuffix(body, "\n") {
			t.Fatalf("%s: %d %q", tc.name, rec.Code, rec.Header())
		}
		if got := strings.Contains(body, "\n  "); got != tc.indented {
			t.Errorf("%s: indented %v, want %v", tc.name, got, tc.indented)
		}
		var back any
		if err := json.Unmarshal([]byte(body), &back); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
