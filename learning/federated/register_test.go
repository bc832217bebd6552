package federated

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestModelsAreCreatedOverHTTPAndListed(t *testing.T) {
	srv := newServer(t, 2) // holds "load" already
	put := func(name, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, srv.URL+APIPrefix+name, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put("traffic", `{"season": 24, "hidden": 8, "seed": 3}`); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if code := put("traffic", `{"season": 24}`); code != http.StatusConflict {
		t.Fatalf("create again: %d, want 409", code)
	}
	if code := put("Bad_Name", `{"season": 24}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad name: %d, want 422", code)
	}
	if code := put("odd", `{"season": 0}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("season 0: %d, want 422", code)
	}
	if code := put("odd", `{"seasons": 3}`); code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d, want 400", code)
	}
	resp, err := http.Get(srv.URL + strings.TrimSuffix(APIPrefix, "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list ModelList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 || list.Items[0].Name != "load" || list.Items[1].Name != "traffic" || list.Items[1].Shape.Season != 24 || list.Items[1].Model != nil {
		t.Fatalf("list = %+v", list.Items)
	}
}
