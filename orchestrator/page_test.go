package orchestrator

import (
	"net/http/httptest"
	"slices"
	"testing"
)

// TestPageFollowsTheListOrder pages a catalog sorted by name then
// semantic version, an order that is not the order of its keys as
// strings: every item must come once, in order.
func TestPageFollowsTheListOrder(t *testing.T) {
	items := []string{"web@1.2.0", "web@1.10.0", "web@2.0.0-rc.1", "web@2.0.0", "web-ui@1.0.0"}
	id := func(s string) string { return s }
	for _, limit := range []string{"1", "2", "4"} {
		var got []string
		token := ""
		for range 10 {
			r := httptest.NewRequest("GET", "/api/v1/blocks?limit="+limit+"&continue="+token, nil)
			out, next, err := pageBy(r, items, id, compareRefs)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out...)
			if token = next; token == "" {
				break
			}
		}
		if !slices.Equal(got, items) {
			t.Errorf("limit %s: pages gave %v, want %v", limit, got, items)
		}
	}
	// A token whose item is gone resumes after where it was.
	r := httptest.NewRequest("GET", "/api/v1/blocks?limit=2&continue=d2ViQDEuNS4w", nil) // "web@1.5.0"
	out, _, err := pageBy(r, []string{"a", "web@1.10.0", "z"}, id, compareRefs)
	if err != nil || !slices.Equal(out, []string{"web@1.10.0", "z"}) {
		t.Errorf("after a vanished item: %v %v", out, err)
	}
	if _, _, err := page(httptest.NewRequest("GET", "/x?continue=!!", nil), items, id); err == nil {
		t.Error("a broken token was accepted")
	}
}
