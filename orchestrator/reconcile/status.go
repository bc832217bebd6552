package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// status gathers what one pass learned about an application and turns
// it into phase and conditions.
type status struct {
	prev       v1alpha1.ApplicationStatus
	now        time.Time
	components []v1alpha1.ComponentStatus

	failReason, failMessage string
	unplaced                []string // why replicas have no site
	missing                 []string // components short of replicas
	notes                   []string // waits and back-offs
}

func (s *status) failed(reason, msg string) {
	if s.failReason == "" {
		s.failReason, s.failMessage = reason, msg
	}
}

func (s *status) unschedulable(component string, replica int, why string) {
	s.unplaced = append(s.unplaced, fmt.Sprintf("%s[%d]: %s", component, replica, why))
}

func (s *status) short(component string, ready, desired int) {
	s.missing = append(s.missing, fmt.Sprintf("%s %d/%d", component, ready, desired))
}

func (s *status) note(msg string) { s.notes = append(s.notes, msg) }

// finish decides the phase:
//   - Failed: a block cannot be resolved, or a replica failed for good;
//   - Running: every replica runs and every objective is met;
//   - Degraded: it ran fully before and now misses replicas, replicas
//     run but others have no site, or an objective is missed;
//   - Pending: nothing runs and some replica has no site;
//   - Deploying: otherwise (replicas placed, not all running yet).
func (s *status) finish(a App) v1alpha1.ApplicationStatus {
	out := v1alpha1.ApplicationStatus{ObservedGeneration: a.App.Metadata.Generation, Components: s.components}
	ready := 0
	for _, c := range s.components {
		ready += c.Ready
	}
	placed := cond("Placed", len(s.unplaced) == 0, "AllPlaced", "Unschedulable", "every replica has a site", strings.Join(s.unplaced, "; "))
	available := cond("Available", len(s.missing) == 0 && s.failReason == "", "AllReplicasRunning", "ReplicasMissing",
		"every replica runs", strings.Join(append(slices.Clone(s.missing), s.notes...), "; "))
	objMet, objMsg, objKnown := objectives(a)
	out.Conditions = []v1alpha1.Condition{placed, available}
	if len(a.App.Spec.Objectives) > 0 {
		c := cond("ObjectivesMet", objMet, "ObjectivesMet", "ObjectiveMissed", objMsg, objMsg)
		if !objKnown {
			c = v1alpha1.Condition{Type: "ObjectivesMet", Status: "Unknown", Reason: "NoMeasurements", Message: objMsg}
		}
		out.Conditions = append(out.Conditions, c)
	}
	wasUp := s.prev.Phase == v1alpha1.AppRunning || s.prev.Phase == v1alpha1.AppDegraded
	switch {
	case s.failReason != "":
		out.Phase = v1alpha1.AppFailed
		available.Reason, available.Message = s.failReason, s.failMessage
		out.Conditions[1] = available
		out.Conditions[1].Status = "False"
	case available.Status == "True" && (objMet || !objKnown):
		out.Phase = v1alpha1.AppRunning
	case available.Status == "True":
		out.Phase = v1alpha1.AppDegraded // objectives missed
	case ready == 0 && len(s.unplaced) > 0:
		out.Phase = v1alpha1.AppPending
	case wasUp || len(s.unplaced) > 0:
		out.Phase = v1alpha1.AppDegraded
	default:
		out.Phase = v1alpha1.AppDeploying
	}
	for i := range out.Conditions { // keep transition times of unchanged conditions
		out.Conditions[i].LastTransitionTime = s.now
		for _, old := range s.prev.Conditions {
			if old.Type == out.Conditions[i].Type && old.Status == out.Conditions[i].Status {
				out.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	return out
}

func cond(typ string, ok bool, yesReason, noReason, yesMsg, noMsg string) v1alpha1.Condition {
	if ok {
		return v1alpha1.Condition{Type: typ, Status: "True", Reason: yesReason, Message: yesMsg}
	}
	return v1alpha1.Condition{Type: typ, Status: "False", Reason: noReason, Message: noMsg}
}

// objectives checks the application's objectives against the observed
// metrics: whether all are met, a message, and whether any was measured.
func objectives(a App) (bool, string, bool) {
	met, known := true, false
	var parts []string
	for _, o := range a.App.Spec.Objectives {
		v, ok := a.Observed[ObjectiveKey(o)]
		if !ok {
			parts = append(parts, fmt.Sprintf("%s: not measured", describe(o)))
			continue
		}
		known = true
		good := (o.Op == ">=" && v >= o.Value) || (o.Op == "<=" && v <= o.Value)
		met = met && good
		verdict := "met"
		if !good {
			verdict = "MISSED"
		}
		parts = append(parts, fmt.Sprintf("%s: %.4g (%s)", describe(o), v, verdict))
	}
	return met, strings.Join(parts, "; "), known
}

// ObjectiveKey is where App.Observed keeps an objective's measurement.
func ObjectiveKey(o v1alpha1.Objective) string { return o.Metric + "/" + o.Component }

func describe(o v1alpha1.Objective) string {
	where := ""
	if o.Component != "" {
		where = " of " + o.Component
	}
	return fmt.Sprintf("%s%s %s %g", o.Metric, where, o.Op, o.Value)
}
