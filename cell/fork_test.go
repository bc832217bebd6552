package cell_test

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/cell"
)

// syncBuffer is a bytes.Buffer that cells running at once can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := strings.Split(strings.TrimSpace(s.b.String()), "\n")
	sort.Strings(l)
	return l
}

// cloudskin_fork starts children that continue from the call with the
// parent's memory and stdio buffers as they were, and exit on their own;
// on either engine.
func TestForkHasProcessSemantics(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := load(t, "fork-m", e)
			var out syncBuffer
			res, forks, err := p.RunForking(context.Background(), cell.Spec{Stdout: &out},
				func(int) cell.Spec { return cell.Spec{Stdout: &out} })
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("parent: %v %+v", err, res)
			}
			want := []string{
				"before fork, sum 130879296",
				"buffered child 1 sum 130879296",
				"buffered child 2 sum 262144",
				"buffered parent forked 1 and 2, sum 262144",
			}
			if got := out.lines(); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("output lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(forks) != 2 {
				t.Fatalf("forks: %+v", forks)
			}
			sort.Slice(forks, func(i, j int) bool { return forks[i].Child < forks[j].Child })
			for i, f := range forks {
				if f.Err != nil || f.Result.ExitCode != 11+i {
					t.Errorf("child %d: %+v", f.Child, f)
				}
			}
		})
	}
}

// A program that is not migratable learns that it cannot fork, and runs on.
func TestForkWithoutMigratableBuildReturnsMinusOne(t *testing.T) {
	p := load(t, "fork", cell.Wazero)
	var out bytes.Buffer
	res, err := p.Run(context.Background(), cell.Spec{Stdout: &out})
	if err != nil || res.ExitCode != 0 || !strings.Contains(out.String(), "buffered cannot fork") {
		t.Fatalf("%v %+v %q", err, res, out.String())
	}
	if _, _, err := p.RunForking(context.Background(), cell.Spec{}, nil); err == nil {
		t.Fatal("RunForking ran a program that is not migratable")
	}
}

// BenchmarkFork measures what a fork costs: a cell that forks once (the
// child exits at once) against the same cell built without fork support
// running the same path (cloudskin_fork returns -1).
func BenchmarkFork(b *testing.B) {
	ctx := context.Background()
	forking := load(b, "fork-m", cell.Wazero)
	plain := load(b, "fork", cell.Wazero)
	b.Run("fork", func(b *testing.B) {
		for b.Loop() {
			var out syncBuffer
			if _, forks, err := forking.RunForking(ctx, cell.Spec{Stdout: &out}, func(int) cell.Spec { return cell.Spec{Stdout: &out} }); err != nil || len(forks) != 2 {
				b.Fatal(err, len(forks))
			}
		}
	})
	b.Run("no-fork", func(b *testing.B) {
		for b.Loop() {
			if _, err := plain.Run(ctx, cell.Spec{Stdout: &bytes.Buffer{}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
