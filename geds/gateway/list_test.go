package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// modelList is what a listing must return: keys under prefix, with those
// holding delimiter after the prefix rolled up into common prefixes, in
// key order.
func modelList(keys []string, prefix, delimiter string) []string {
	var out []string
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		entry := k
		if delimiter != "" {
			if i := strings.Index(k[len(prefix):], delimiter); i >= 0 {
				entry = k[:len(prefix)+i+len(delimiter)] + " (prefix)"
			}
		}
		if len(out) == 0 || out[len(out)-1] != entry {
			out = append(out, entry)
		}
	}
	return out
}

// TestListMatchesModel pages through random listings with V1 and V2 and
// compares every one with the model.
func TestListMatchesModel(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "/", "-", "ю"}
	seen := map[string]bool{}
	var keys []string
	for len(keys) < 60 {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		k := b.String()
		if seen[k] || strings.Contains("/"+k+"/", "/../") {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
		e.put("bkt", k, []byte(k))
	}
	sort.Strings(keys)
	for i := range 40 {
		prefix := ""
		if i%3 != 0 {
			r := []rune(keys[rng.IntN(len(keys))])
			prefix = string(r[:min(len(r), 1+rng.IntN(2))])
		}
		delimiter := []string{"", "/", "b", "/a"}[rng.IntN(4)]
		max := 1 + rng.IntN(7)
		want := modelList(keys, prefix, delimiter)

		var v2 []string
		token := ""
		for pages := 0; ; pages++ {
			res, err := e.core.ListObjectsV2("bkt", prefix, "", token, delimiter, max)
			if err != nil {
				t.Fatal(err)
			}
			v2 = append(v2, entries(res.Contents, res.CommonPrefixes)...)
			if !res.IsTruncated || pages > 100 {
				break
			}
			token = res.NextContinuationToken
		}
		var v1 []string
		marker := ""
		for pages := 0; ; pages++ {
			res, err := e.core.ListObjects("bkt", prefix, marker, delimiter, max)
			if err != nil {
				t.Fatal(err)
			}
			v1 = append(v1, entries(res.Contents, res.CommonPrefixes)...)
			if !res.IsTruncated || pages > 100 {
				break
			}
			marker = res.NextMarker
		}
		what := fmt.Sprintf("prefix %q delimiter %q pages of %d", prefix, delimiter, max)
		if !slices.Equal(v2, want) {
			t.Errorf("V2 %s:\n got %q\nwant %q", what, v2, want)
		}
		if !slices.Equal(v1, want) {
			t.Errorf("V1 %s:\n got %q\nwant %q", what, v1, want)
		}
	}
}

func entries(objs []minio.ObjectInfo, prefixes []minio.CommonPrefix) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	for _, p := range prefixes {
		out = append(out, p.Prefix+" (prefix)")
	}
	// A page interleaves keys and prefixes in key order; the XML lists
	// them apart, so sort the page back.
	sort.Slice(out, func(i, j int) bool {
		return strings.TrimSuffix(out[i], " (prefix)") < strings.TrimSuffix(out[j], " (prefix)")
	})
	return out
}

func TestListStartAfterAndMaxKeysZero(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	for _, k := range []string{"a/1", "a/2", "b", "c/1"} {
		e.put("bkt", k, []byte(k))
	}
	res, err := e.core.ListObjectsV2("bkt", "", "a/", "", "/", 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(res.Contents, res.CommonPrefixes); !slices.Equal(got, []string{"b", "c/ (prefix)"}) {
		t.Fatalf("start-after a/ with delimiter /: %q", got)
	}
	res, err = e.core.ListObjectsV2("bkt", "", "a/1", "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(res.Contents, nil); !slices.Equal(got, []string{"a/2", "b", "c/1"}) {
		t.Fatalf("start-after a/1: %q", got)
	}
	resp := e.do("GET", "/bkt?list-type=2&max-keys=0", nil, nil)
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || bytes.Contains(body, []byte("<Contents>")) || !bytes.Contains(body, []byte("<KeyCount>0</KeyCount>")) {
		t.Fatalf("max-keys 0: %d %s", resp.StatusCode, body)
	}
	if _, err := e.core.ListObjectsV2("gone", "", "", "", "", 10); code(err) != "NoSuchBucket" {
		t.Fatalf("list of a missing bucket: %v", err)
	}
	resp = e.do("GET", "/bkt?list-type=2&continuation-token=%21%21", nil, nil)
	if c := errorCode(t, resp); c != "InvalidArgument" {
		t.Fatalf("bad continuation token: %s", c)
	}
}
