package agent

import (
	"testing"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Every status the agent sends for a run carries its ranks' moves, once
// each, whichever status it starts from; the book's latest status is a
// valid report from the claim on.
func TestRankBookMergesMovesIntoEveryStatus(t *testing.T) {
	var books rankBooks
	claimed := v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Site: "edge", Claim: "c1"}
	book := books.open("run", claimed)
	if got := book.set(v1alpha1.CellRankStatus{Rank: 2, Site: "cloud", Phase: v1alpha1.RankOffered, Token: "t"}, nil); got.Phase != v1alpha1.CellRunning || got.Claim != "c1" {
		t.Fatalf("latest status before any report: %+v", got)
	}
	rank := 2
	moved := v1alpha1.CellMigration{From: "edge", To: "cloud", Ranks: 1, Rank: &rank, Bytes: 10}
	book.set(v1alpha1.CellRankStatus{Rank: 2, Site: "cloud", Phase: v1alpha1.RankMoved}, &moved)

	whole := v1alpha1.CellMigration{From: "far", To: "edge", Ranks: 3}
	st := books.merge("run", v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Output: "x", Migrations: []v1alpha1.CellMigration{whole}})
	again := books.merge("run", st) // a status that was merged once already
	for _, s := range []v1alpha1.CellRunStatus{st, again} {
		if len(s.Ranks) != 1 || s.Ranks[0].Phase != v1alpha1.RankMoved || s.Ranks[0].Token != "" {
			t.Fatalf("ranks: %+v", s.Ranks)
		}
		if len(s.Migrations) != 2 || s.Migrations[0].From != "far" || s.Migrations[1].Rank == nil {
			t.Fatalf("migrations: %+v", s.Migrations)
		}
	}
	books.close("run")
	if got := books.merge("run", v1alpha1.CellRunStatus{Output: "y"}); got.Ranks != nil || got.Output != "y" {
		t.Fatalf("a run without a book: %+v", got)
	}
}

// A rank that moves away frees its core for the site's elastic grants, and
// takes it again when it comes back.
func TestCoreBookFollowsMovedRanks(t *testing.T) {
	var b coreBook
	release := b.add("world", 3, true)
	defer release()
	b.add("other", 3, false)
	if got := b.grant(8); got != 1 { // 2 idle cores for 3 elastic ranks
		t.Fatalf("grant with 6 of 8 cores busy: %d", got)
	}
	b.adjust("world", -1)
	b.adjust("world", -1)
	if got := b.grant(8); got != 2 { // 4 idle cores for 1 elastic rank, capped at 2
		t.Fatalf("grant after two ranks moved away: %d", got)
	}
	b.adjust("world", +2)
	b.setWaiting(1)
	if got := b.grant(8); got != 1 {
		t.Fatalf("grant while a run waits: %d", got)
	}
}
