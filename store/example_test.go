package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cloudskin/cloudskin/store"
	"github.com/cloudskin/cloudskin/store/bolt"
)

// Records are JSON values under key paths; ListJSON reads every record
// under a prefix back into Go values, in key order.
func ExampleListJSON() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	s, err := bolt.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	type site struct{ Name string }
	for _, name := range []string{"edge", "cloud"} {
		store.PutJSON(ctx, s, "/sites/"+name, site{Name: name})
	}
	store.PutJSON(ctx, s, "/cells/c1", site{Name: "not a site"})
	sites, err := store.ListJSON[site](ctx, s, "/sites/")
	fmt.Println(sites, err)
	s.Put(ctx, "/sites/broken", []byte("{"))
	_, err = store.ListJSON[site](ctx, s, "/sites/")
	fmt.Println(err != nil)
	// Output:
	// [{cloud} {edge}] <nil>
	// true
}
