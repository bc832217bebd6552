package apps_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/apps"
	"github.com/cloudskin/cloudskin/store/bolt"
)

func demo(name string) v1alpha1.Application {
	one := 1
	return v1alpha1.Application{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindApplication},
		Metadata: v1alpha1.ObjectMeta{Name: name},
		Spec:     v1alpha1.ApplicationSpec{Components: []v1alpha1.Component{{Name: "detector", Block: "detector", Replicas: &one}}},
	}
}

// newRegistry is a registry on a fresh bolt store.
func newRegistry(t *testing.T) *apps.Registry {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return apps.NewRegistry(s, time.Now)
}

// Of many concurrent creates of one name, exactly one succeeds; the
// others are told the name exists, and the stored application is the
// winner's.
func TestCreateOfOneNameSucceedsOnce(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			a := demo("video")
			a.Metadata.Labels = map[string]string{"writer": string(rune('a' + i))}
			_, errs[i] = reg.Create(ctx, a)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("creates %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, apps.ErrExists):
			t.Fatalf("create %d: %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no create succeeded")
	}
	got, err := reg.Get(ctx, "video")
	if err != nil || got.Metadata.Labels["writer"] != string(rune('a'+winner)) || got.Metadata.Generation != 1 || got.Status.Phase != v1alpha1.AppPending {
		t.Fatalf("stored %+v (%v), want the winner's, generation 1, Pending", got.Metadata, err)
	}
	if _, err := reg.Create(ctx, v1alpha1.Application{Metadata: v1alpha1.ObjectMeta{Name: "Bad Name"}}); !errors.Is(err, apps.ErrInvalid) {
		t.Fatalf("an invalid application: %v, want ErrInvalid", err)
	}
}

// ListStored answers each application's stored document, which decodes to
// what Get answers, in name order.
func TestListStoredIsWhatGetAnswers(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	for _, name := range []string{"video", "audio", "radar"} {
		if _, err := reg.Create(ctx, demo(name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.SetStatus(ctx, "radar", v1alpha1.ApplicationStatus{ObservedGeneration: 1, Phase: v1alpha1.AppPending, Conditions: []v1alpha1.Condition{{Type: "Placed", Status: "False", Message: "waiting"}}}); err != nil {
		t.Fatal(err)
	}
	stored, err := reg.ListStored(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range stored {
		names = append(names, st.Name)
		var got v1alpha1.Application
		if err := json.Unmarshal(st.JSON, &got); err != nil {
			t.Fatalf("%s: stored document: %v", st.Name, err)
		}
		want, err := reg.Get(ctx, st.Name)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: stored %+v, Get %+v (%v)", st.Name, got, want, err)
		}
	}
	if !slices.Equal(names, []string{"audio", "radar", "video"}) {
		t.Fatalf("names %v, want them in order", names)
	}
}
