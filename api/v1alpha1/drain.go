package v1alpha1

// SiteDrainRequest announces that a site goes away (a spot host's
// eviction notice, maintenance): its running cells should move before
// Deadline, which counts from the request.
type SiteDrainRequest struct {
	Deadline Duration `json:"deadline" yaml:"deadline"`
}

// SiteDrain is what the planner decided for a drained site's cells.
type SiteDrain struct {
	Site  string      `json:"site" yaml:"site"`
	Moves []CellMove  `json:"moves" yaml:"moves"`
	Stays []CellStays `json:"stays,omitempty" yaml:"stays,omitempty"`
}

// CellMove is a cell run, or with Rank one rank of its MPI world, asked to
// move by the planner.
type CellMove struct {
	Cell   string `json:"cell" yaml:"cell"`
	Rank   *int   `json:"rank,omitempty" yaml:"rank,omitempty"`
	From   string `json:"from" yaml:"from"`
	To     string `json:"to" yaml:"to"`
	Policy string `json:"policy" yaml:"policy"`
	Reason string `json:"reason" yaml:"reason"`
}

// Defragmentation is what the planner decided to gather spread MPI worlds.
type Defragmentation struct {
	Moves []CellMove  `json:"moves" yaml:"moves"`
	Stays []CellStays `json:"stays,omitempty" yaml:"stays,omitempty"`
}

// CellStays is a cell run of a drained site that is not moved, and why.
type CellStays struct {
	Cell   string `json:"cell" yaml:"cell"`
	Reason string `json:"reason" yaml:"reason"`
}
