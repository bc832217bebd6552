package printer

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

func list(kind string) v1alpha1.TypeMeta {
	return v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: kind + "List"}
}

// Blocks writes catalog entries in format f.
func Blocks(w io.Writer, f Format, blocks []v1alpha1.Block, now time.Time) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.BlockList{TypeMeta: list(v1alpha1.KindBlock), Items: blocks})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "NAME\tVERSION\tTYPE\tCPU\tMEMORY\tAGE\tDESCRIPTION"
	if f == Wide {
		header += "\tPARAMETERS\tDIGEST"
	}
	fmt.Fprintln(tw, header)
	for _, b := range blocks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s", b.Metadata.Name, b.Spec.Version, b.Spec.Type,
			quantity(b.Spec.Resources.CPU), quantity(b.Spec.Resources.Memory), ago(b.Metadata.CreationTimestamp, now), orNone(b.Spec.Description))
		if f == Wide {
			var params []string
			for _, p := range b.Spec.Parameters {
				params = append(params, p.Name+":"+string(p.Type))
			}
			fmt.Fprintf(tw, "\t%s\t%s", orNone(strings.Join(params, ",")), b.Status.Digest[:min(12, len(b.Status.Digest))])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func quantity(q v1alpha1.Quantity) string {
	if q.IsZero() {
		return "-"
	}
	return q.String()
}

// Applications writes applications in format f.
func Applications(w io.Writer, f Format, apps []v1alpha1.Application, now time.Time) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.ApplicationList{TypeMeta: list(v1alpha1.KindApplication), Items: apps})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "NAME\tPHASE\tREADY\tCOMPONENTS\tAGE"
	if f == Wide {
		header += "\tGENERATION\tSITES\tMESSAGE"
	}
	fmt.Fprintln(tw, header)
	for _, a := range apps {
		ready, desired := 0, 0
		sites := map[string]bool{}
		var siteList []string
		for _, c := range a.Status.Components {
			ready += c.Ready
			desired += c.Desired
			for _, r := range c.Replicas {
				if r.Site != "" && !sites[r.Site] {
					sites[r.Site] = true
					siteList = append(siteList, r.Site)
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%s", a.Metadata.Name, orNone(string(a.Status.Phase)), ready, desired,
			len(a.Spec.Components), ago(a.Metadata.CreationTimestamp, now))
		if f == Wide {
			fmt.Fprintf(tw, "\t%d\t%s\t%s", a.Metadata.Generation, orNone(strings.Join(siteList, ",")), orNone(conditionMessage(a.Status.Conditions)))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// conditionMessage is the message of the first condition that is not True.
func conditionMessage(cs []v1alpha1.Condition) string {
	for _, c := range cs {
		if c.Status != "True" {
			return c.Reason + ": " + c.Message
		}
	}
	return ""
}

// Placements writes placement decisions in format f: one row per replica.
func Placements(w io.Writer, f Format, ps []v1alpha1.Placement, now time.Time) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.PlacementList{TypeMeta: list(v1alpha1.KindPlacement), Items: ps})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "APPLICATION\tCOMPONENT\tREPLICA\tSITE\tDECIDED\tREASON"
	if f == Wide {
		header += "\tCANDIDATES"
	}
	fmt.Fprintln(tw, header)
	for _, p := range ps {
		for _, d := range p.Decisions {
			t := d.Time
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s", p.Application, d.Component, d.Replica, orNone(d.Site), ago(&t, now), d.Reason)
			if f == Wide {
				var cs []string
				for _, c := range d.Candidates {
					if c.Feasible {
						cs = append(cs, fmt.Sprintf("%s=%.3f", c.Site, c.Score))
					} else {
						cs = append(cs, c.Site+"=x")
					}
				}
				fmt.Fprintf(tw, "\t%s", strings.Join(cs, ","))
			}
			fmt.Fprintln(tw)
		}
	}
	return tw.Flush()
}

// Migrations writes migrations in format f.
func Migrations(w io.Writer, f Format, ms []v1alpha1.Migration, now time.Time) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.MigrationList{TypeMeta: list(v1alpha1.KindMigration), Items: ms})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "NAME\tAPPLICATION\tCOMPONENT\tTO\tPHASE\tMETHOD\tDOWNTIME\tAGE"
	if f == Wide {
		header += "\tMESSAGE"
	}
	fmt.Fprintln(tw, header)
	for _, m := range ms {
		var down time.Duration
		for _, mv := range m.Status.Moves {
			down = max(down, mv.Downtime.Duration)
		}
		downtime := "-"
		if m.Status.Phase == v1alpha1.MigrationSucceeded {
			downtime = down.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", m.Metadata.Name, m.Spec.Application, m.Spec.Component, m.Spec.To,
			orNone(string(m.Status.Phase)), orNone(string(m.Status.Method)), downtime, ago(m.Metadata.CreationTimestamp, now))
		if f == Wide {
			fmt.Fprintf(tw, "\t%s", orNone(m.Status.Message))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// DescribeApplication writes an application for people: its components
// and replicas, conditions, placement decisions and migrations.
func DescribeApplication(w io.Writer, a v1alpha1.Application, p v1alpha1.Placement, ms []v1alpha1.Migration, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", a.Metadata.Name)
	fmt.Fprintf(tw, "Phase:\t%s\n", orNone(string(a.Status.Phase)))
	fmt.Fprintf(tw, "Generation:\t%d (observed %d)\n", a.Metadata.Generation, a.Status.ObservedGeneration)
	fmt.Fprintf(tw, "Created:\t%s\n", ago(a.Metadata.CreationTimestamp, now))
	for _, o := range a.Spec.Objectives {
		fmt.Fprintf(tw, "Objective:\t%s %s %g %s\n", o.Metric, o.Op, o.Value, o.Component)
	}
	fmt.Fprintln(tw, "Components:")
	for _, c := range a.Status.Components {
		fmt.Fprintf(tw, "  %s\t%s\t%d/%d ready\n", c.Name, c.Block, c.Ready, c.Desired)
		for _, r := range c.Replicas {
			fmt.Fprintf(tw, "    [%d] %s\t%s at %s\trestarts %d\t%s\n", r.Index, r.Name, r.Phase, orNone(r.Site), r.Restarts, r.Message)
		}
	}
	fmt.Fprintln(tw, "Conditions:")
	for _, c := range a.Status.Conditions {
		t := c.LastTransitionTime
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, ago(&t, now), c.Message)
	}
	if len(p.Decisions) > 0 {
		fmt.Fprintln(tw, "Placement:")
		for _, d := range p.Decisions {
			fmt.Fprintf(tw, "  %s[%d] -> %s\t%s\n", d.Component, d.Replica, orNone(d.Site), d.Reason)
		}
	}
	first := true
	for _, m := range ms {
		if m.Spec.Application != a.Metadata.Name {
			continue
		}
		if first {
			fmt.Fprintln(tw, "Migrations:")
			first = false
		}
		fmt.Fprintf(tw, "  %s\t%s -> %s\t%s\t%s\t%s\n", m.Metadata.Name, m.Spec.Component, m.Spec.To, m.Status.Phase, ago(m.Metadata.CreationTimestamp, now), m.Status.Message)
	}
	return tw.Flush()
}
