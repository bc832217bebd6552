package agent

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// cronParser reads the standard five fields and descriptors (@hourly).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func checkCron(expr string) error {
	if expr == "" {
		return nil
	}
	_, err := cronParser.Parse(expr)
	return err
}

// Next is the first tick of trigger strictly after last (or, for an agent
// that never ticked, its first tick after now: at once for an interval).
func Next(t v1alpha1.AgentTrigger, last *time.Time, now time.Time) (time.Time, error) {
	if t.Cron != "" {
		s, err := cronParser.Parse(t.Cron)
		if err != nil {
			return time.Time{}, fmt.Errorf("trigger cron %q: %w", t.Cron, err)
		}
		from := now
		if last != nil && last.After(now) {
			from = *last
		}
		return s.Next(from), nil
	}
	if last == nil {
		return now, nil
	}
	return last.Add(t.Interval.Duration), nil
}
