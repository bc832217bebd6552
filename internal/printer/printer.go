// Package printer renders API objects for people and programs, the way
// kubectl does: an aligned table by default, more columns with -o wide,
// and the full object with -o json or -o yaml.
package printer

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Format is an output format.
type Format string

// The formats -o accepts.
const (
	Table Format = "table"
	Wide  Format = "wide"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// ParseFormat checks an -o value; "" means Table.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "":
		return Table, nil
	case Table, Wide, JSON, YAML:
		return f, nil
	default:
		return "", fmt.Errorf("output format %q: want table, wide, json or yaml", s)
	}
}

// Object writes v as JSON or YAML.
func Object(w io.Writer, f Format, v any) error {
	switch f {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case YAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	default:
		return fmt.Errorf("format %q is not an object format", f)
	}
}

// Sites writes sites in format f; now dates the AGE and HEARTBEAT columns.
func Sites(w io.Writer, f Format, sites []v1alpha1.Site, now time.Time) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.SiteList{
			TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: "SiteList"},
			Items:    sites,
		})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "NAME\tTYPE\tSTATUS\tCORES\tMEMORY\tLAST HEARTBEAT\tAGE"
	if f == Wide {
		header += "\tDISK\tAGENT\tLABELS\tMESSAGE"
	}
	fmt.Fprintln(tw, header)
	for _, s := range sites {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s", s.Metadata.Name, s.Spec.Type, s.Status.Phase,
			s.Spec.Capacity.Cores, s.Spec.Capacity.Memory.String(), ago(s.Status.LastHeartbeatTime, now), ago(s.Metadata.CreationTimestamp, now))
		if f == Wide {
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s", s.Spec.Capacity.Disk.String(), orNone(s.Status.Agent.Hostname),
				labels(s.Metadata.Labels), orNone(s.Status.Message))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// CellRuns writes cell runs in format f.
func CellRuns(w io.Writer, f Format, runs []v1alpha1.CellRun, now time.Time) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.CellRunList{
			TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: "CellRunList"},
			Items:    runs,
		})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "NAME\tSITE\tPHASE\tEXIT\tMIGRATIONS\tAGE"
	if f == Wide {
		header += "\tRUNS AT\tRANKS AWAY\tENGINE\tMODULE\tMESSAGE"
	}
	fmt.Fprintln(tw, header)
	for _, c := range runs {
		exit := "<none>"
		if c.Status.Phase.Done() {
			exit = fmt.Sprint(c.Status.ExitCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s", c.Metadata.Name, c.Spec.Site, c.Status.Phase, exit,
			len(c.Status.Migrations), ago(c.Metadata.CreationTimestamp, now))
		if f == Wide {
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s", orNone(c.Status.Site), orNone(ranksAway(c.Status.Ranks)), orNone(c.Status.Engine), c.Spec.Module[:min(12, len(c.Spec.Module))], orNone(c.Status.Message))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// ranksAway lists the ranks of a world that run away from its site, or
// are offered to another, as RANK→SITE.
func ranksAway(ranks []v1alpha1.CellRankStatus) string {
	var parts []string
	for _, r := range ranks {
		switch r.Phase {
		case v1alpha1.RankMoved:
			parts = append(parts, fmt.Sprintf("%d→%s", r.Rank, r.Site))
		case v1alpha1.RankOffered:
			parts = append(parts, fmt.Sprintf("%d→%s (offered)", r.Rank, r.Site))
		}
	}
	return strings.Join(parts, ",")
}

// Version writes build information.
func Version(w io.Writer, f Format, v any, text string) error {
	if f == JSON || f == YAML {
		return Object(w, f, v)
	}
	_, err := io.WriteString(w, text)
	return err
}

func ago(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "<never>"
	}
	return duration.HumanDuration(now.Sub(*t)) + " ago"
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
