package printer

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Models writes the model registry's models in format f.
func Models(w io.Writer, f Format, ms []v1alpha1.ModelSummary) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.ModelList{TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: "ModelList"}, Items: ms})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tPRODUCTION\tKIND\tVERSIONS\tLATEST")
	for _, m := range ms {
		prod := "-"
		if m.Production > 0 {
			prod = fmt.Sprintf("v%d", m.Production)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\tv%d\n", m.Model, prod, orNone(m.Kind), m.Versions, m.Latest)
	}
	return tw.Flush()
}

// ModelVersions writes a model's versions in format f: stage, metrics on
// held-out data, the comparison with production, lineage.
func ModelVersions(w io.Writer, f Format, vs []v1alpha1.ModelVersion, now time.Time) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.ModelVersionList{TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: "ModelVersionList"}, Items: vs})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "VERSION\tSTAGE\tKIND\tSEASON\tPOINTS\tMASE\tSMAPE\tVS PRODUCTION\tPARENT\tAGE"
	if f == Wide {
		header += "\tTRAINED BY\tSOURCE\tMESSAGE"
	}
	fmt.Fprintln(tw, header)
	for _, v := range vs {
		parent := "-"
		if v.Spec.Parent > 0 {
			parent = fmt.Sprintf("v%d", v.Spec.Parent)
		}
		fmt.Fprintf(tw, "v%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s", v.Status.Version, v.Status.Stage, v.Spec.Kind,
			v.Spec.Data.Season, v.Spec.Data.Points, metric(v.Spec.Metrics, "mase"), metric(v.Spec.Metrics, "smape"),
			evaluation(v.Spec.Evaluation), parent, ago(v.Status.Created, now))
		if f == Wide {
			fmt.Fprintf(tw, "\t%s\t%s\t%s", orNone(v.Spec.TrainedBy), orNone(v.Spec.Data.Source), orNone(v.Status.Message))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func metric(m map[string]float64, name string) string {
	v, ok := m[name]
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.4g", v)
}

func evaluation(e *v1alpha1.ModelEvaluation) string {
	if e == nil {
		return "-"
	}
	verdict := "lost"
	if e.Better {
		verdict = "won"
	}
	return fmt.Sprintf("%s %.4g vs %.4g (v%d): %s", e.Metric, e.Candidate, e.Current, e.Against, verdict)
}

// DescribeModelVersion writes one version for people: what it is, what it
// learnt from, how it did, where it came from.
func DescribeModelVersion(w io.Writer, v v1alpha1.ModelVersion, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", v.Metadata.Name)
	fmt.Fprintf(tw, "Model:\t%s\n", v.Spec.Model)
	fmt.Fprintf(tw, "Version:\tv%d\n", v.Status.Version)
	fmt.Fprintf(tw, "Stage:\t%s\n", v.Status.Stage)
	if v.Status.Message != "" {
		fmt.Fprintf(tw, "Message:\t%s\n", v.Status.Message)
	}
	fmt.Fprintf(tw, "Kind:\t%s\n", v.Spec.Kind)
	fmt.Fprintf(tw, "Created:\t%s\n", ago(v.Status.Created, now))
	fmt.Fprintf(tw, "Trained by:\t%s\n", orNone(v.Spec.TrainedBy))
	d := v.Spec.Data
	fmt.Fprintf(tw, "Data:\t%d points, season %d, step %s, from %s\n", d.Points, d.Season, d.Step, orNone(d.Source))
	if d.Start != nil && d.End != nil {
		fmt.Fprintf(tw, "Window:\t%s to %s\n", d.Start.UTC().Format(time.RFC3339), d.End.UTC().Format(time.RFC3339))
	}
	var params []string
	for _, k := range slices.Sorted(maps.Keys(v.Spec.Parameters)) {
		params = append(params, fmt.Sprintf("%s=%.4g", k, v.Spec.Parameters[k]))
	}
	fmt.Fprintf(tw, "Parameters:\t%s\n", orNone(strings.Join(params, " ")))
	fmt.Fprintf(tw, "Held-out:\tMAE %s, sMAPE %s, MASE %s\n", metric(v.Spec.Metrics, "mae"), metric(v.Spec.Metrics, "smape"), metric(v.Spec.Metrics, "mase"))
	fmt.Fprintf(tw, "Against production:\t%s\n", evaluation(v.Spec.Evaluation))
	lineage := "-"
	if v.Spec.Parent > 0 {
		lineage = fmt.Sprintf("trained to replace v%d", v.Spec.Parent)
	}
	if v.Status.Replaced > 0 {
		lineage += fmt.Sprintf("; replaced v%d in production", v.Status.Replaced)
	}
	fmt.Fprintf(tw, "Lineage:\t%s\n", lineage)
	return tw.Flush()
}

// Agents writes agents in format f.
func Agents(w io.Writer, f Format, as []v1alpha1.Agent, now time.Time) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.AgentList{TypeMeta: list(v1alpha1.KindAgent), Items: as})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "NAME\tPOLICY\tTRIGGER\tACTUATOR\tTICKS\tLAST TICK\tLAST DECISION"
	if f == Wide {
		header += "\tMODEL\tDRY RUN\tLAST ERROR"
	}
	fmt.Fprintln(tw, header)
	for _, a := range as {
		trigger := a.Spec.Trigger.Cron
		if trigger == "" {
			trigger = "every " + a.Spec.Trigger.Interval.String()
		}
		act := a.Spec.Actuator.Type
		if act == "" {
			act = v1alpha1.ActuatorNone
		}
		if a.Spec.Actuator.Application != "" {
			act += ":" + a.Spec.Actuator.Application + "/" + a.Spec.Actuator.Component
		} else if a.Spec.Actuator.Deployment != "" {
			act += ":" + a.Spec.Actuator.Namespace + "/" + a.Spec.Actuator.Deployment
		}
		last := ago(a.Status.LastTick, now)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s", a.Metadata.Name, a.Spec.Policy.Type, trigger, act, a.Status.Ticks, last, orNone(shorten(a.Status.LastDecision, 60)))
		if f == Wide {
			model := "-"
			if a.Status.ModelVersion > 0 {
				model = fmt.Sprintf("v%d", a.Status.ModelVersion)
			}
			fmt.Fprintf(tw, "\t%s\t%t\t%s", model, a.Spec.DryRun, orNone(a.Status.LastError))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// AgentTicks writes an agent's log: one block per tick with its inputs,
// prediction, decision and action.
func AgentTicks(w io.Writer, f Format, ts []v1alpha1.AgentTick) error {
	if f == JSON || f == YAML {
		return Object(w, f, v1alpha1.AgentTickList{TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: "AgentTickList"}, Items: ts})
	}
	for _, t := range ts {
		var inputs []string
		for _, name := range slices.Sorted(maps.Keys(t.Inputs)) {
			in := t.Inputs[name]
			s := fmt.Sprintf("%s=%.4g (%d points", name, in.Last, in.Points)
			if in.Filled > 0 {
				s += fmt.Sprintf(", %d filled", in.Filled)
			}
			inputs = append(inputs, s+")")
		}
		fmt.Fprintf(w, "%s\n", t.Time.UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "  inputs:     %s\n", orNone(strings.Join(inputs, ", ")))
		pred := make([]string, len(t.Prediction))
		for i, p := range t.Prediction {
			pred[i] = fmt.Sprintf("%.4g", p)
		}
		fmt.Fprintf(w, "  prediction: %s %s\n", orNone(t.Model), strings.Join(pred, " "))
		fmt.Fprintf(w, "  decision:   %s\n", t.Decision)
		fmt.Fprintf(w, "  action:     %s\n", t.Action)
		if t.Error != "" {
			fmt.Fprintf(w, "  error:      %s\n", t.Error)
		}
	}
	return nil
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
