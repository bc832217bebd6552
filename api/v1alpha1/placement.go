package v1alpha1

import (
	"fmt"
	"time"
)

// KindPlacement is the kind of an application's placement decisions.
const KindPlacement = "Placement"

// Placement records where the orchestrator put each replica of an
// application and why: for every replica placed, every site considered,
// whether it was feasible, its score and the reasons. It is named after
// its application and written by the orchestrator only.
type Placement struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta `json:"metadata" yaml:"metadata"`
	// Application the decisions are for.
	Application string `json:"application" yaml:"application"`
	// Scorer names the scorer that ranked the feasible sites.
	Scorer    string              `json:"scorer" yaml:"scorer"`
	Decisions []PlacementDecision `json:"decisions" yaml:"decisions"`
}

// PlacementDecision is the choice of a site for one replica.
type PlacementDecision struct {
	Component string    `json:"component" yaml:"component"`
	Replica   int       `json:"replica" yaml:"replica"`
	Time      time.Time `json:"time" yaml:"time"`
	// Site is the winner; empty when no site was feasible.
	Site string `json:"site,omitempty" yaml:"site,omitempty"`
	// Reason says in a sentence why the site won, or why none could.
	Reason     string          `json:"reason" yaml:"reason"`
	Candidates []SiteCandidate `json:"candidates" yaml:"candidates"`
}

// SiteCandidate is one site as the placement saw it.
type SiteCandidate struct {
	Site     string  `json:"site" yaml:"site"`
	Feasible bool    `json:"feasible" yaml:"feasible"`
	Score    float64 `json:"score,omitempty" yaml:"score,omitempty"`
	// Reasons: for an infeasible site, each filter it failed; for a
	// feasible one, the terms of its score.
	Reasons []string `json:"reasons,omitempty" yaml:"reasons,omitempty"`
}

// PlacementList is the answer to listing placements.
type PlacementList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ListMeta    `json:"metadata,omitzero" yaml:"metadata,omitempty"`
	Items    []Placement `json:"items" yaml:"items"`
}

// KindMigration is the kind of a migration record.
const KindMigration = "Migration"

// Migration is a request to move a component's replica to another site
// and, once carried out, the record of the move.
type Migration struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta      `json:"metadata" yaml:"metadata"`
	Spec     MigrationSpec   `json:"spec" yaml:"spec"`
	Status   MigrationStatus `json:"status,omitzero" yaml:"status,omitempty"`
}

// MigrationSpec says what moves where.
type MigrationSpec struct {
	Application string `json:"application" yaml:"application"`
	Component   string `json:"component" yaml:"component"`
	// Replica is the replica's index; nil moves every replica of the
	// component that is not at To.
	Replica *int   `json:"replica,omitempty" yaml:"replica,omitempty"`
	To      string `json:"to" yaml:"to"`
}

// MigrationPhase is where a migration is.
type MigrationPhase string

// The migration phases.
const (
	MigrationPending   MigrationPhase = "Pending"
	MigrationRunning   MigrationPhase = "Running"
	MigrationSucceeded MigrationPhase = "Succeeded"
	MigrationFailed    MigrationPhase = "Failed"
)

// MigrationMethod is how a replica moved.
type MigrationMethod string

// The migration methods.
const (
	// MigrateLive: a running cell stopped at a host call and resumed at
	// the destination from its snapshot.
	MigrateLive MigrationMethod = "live"
	// MigrateRestart: a stateless replica started at the destination,
	// then the old one stopped.
	MigrateRestart MigrationMethod = "restart"
)

// MigrationStatus is written by the orchestrator.
type MigrationStatus struct {
	Phase      MigrationPhase  `json:"phase,omitempty" yaml:"phase,omitempty"`
	Message    string          `json:"message,omitempty" yaml:"message,omitempty"`
	StartTime  *time.Time      `json:"startTime,omitempty" yaml:"startTime,omitempty"`
	FinishTime *time.Time      `json:"finishTime,omitempty" yaml:"finishTime,omitempty"`
	Moves      []ReplicaMove   `json:"moves,omitempty" yaml:"moves,omitempty"`
	Method     MigrationMethod `json:"method,omitempty" yaml:"method,omitempty"`
}

// ReplicaMove is one replica's move.
type ReplicaMove struct {
	Replica  int             `json:"replica" yaml:"replica"`
	From     string          `json:"from" yaml:"from"`
	To       string          `json:"to" yaml:"to"`
	Method   MigrationMethod `json:"method" yaml:"method"`
	Workload string          `json:"workload" yaml:"workload"`
	// Downtime: for a live move, from the stop at the source to the
	// resume at the destination; for a restart, the time no replica ran.
	Downtime Duration `json:"downtime" yaml:"downtime"`
	Bytes    int64    `json:"bytes,omitempty" yaml:"bytes,omitempty"`
	Done     bool     `json:"done" yaml:"done"`
}

// MigrationList is the answer to listing migrations.
type MigrationList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ListMeta    `json:"metadata,omitzero" yaml:"metadata,omitempty"`
	Items    []Migration `json:"items" yaml:"items"`
}

// Validate checks what a user may set on a Migration.
func (m *Migration) Validate() error {
	if err := ValidateTypeMeta(m.TypeMeta, KindMigration); err != nil {
		return err
	}
	if err := ValidateMeta(m.Metadata); err != nil {
		return err
	}
	if err := ValidateName(m.Spec.Application); err != nil {
		return fmt.Errorf("spec.application: %w", err)
	}
	if err := ValidateName(m.Spec.Component); err != nil {
		return fmt.Errorf("spec.component: %w", err)
	}
	if err := ValidateName(m.Spec.To); err != nil {
		return fmt.Errorf("spec.to: %w", err)
	}
	if m.Spec.Replica != nil && *m.Spec.Replica < 0 {
		return fmt.Errorf("spec.replica %d: must not be negative", *m.Spec.Replica)
	}
	return nil
}
