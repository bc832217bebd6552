package autoscale

import (
	"fmt"
	"strings"
)

// ParsePolicy makes a fresh policy from its name: "hpa", "keda",
// "predictive" (with pred.Model, default seasonal-naive) or
// "predictive:MODEL" with MODEL a learning/forecast kind. hpa configures
// the reactive rules, pred the predictive one.
func ParsePolicy(spec string, hpa HPAConfig, pred PredictiveConfig) (Policy, error) {
	name, model, hasModel := strings.Cut(strings.TrimSpace(spec), ":")
	switch name {
	case "hpa":
		if hasModel {
			return nil, fmt.Errorf("autoscale: policy %q: hpa takes no model", spec)
		}
		if err := hpa.withDefaults().Validate(); err != nil {
			return nil, err
		}
		return NewHPA(hpa), nil
	case "keda":
		if hasModel {
			return nil, fmt.Errorf("autoscale: policy %q: keda takes no model", spec)
		}
		if err := hpa.withDefaults().Validate(); err != nil {
			return nil, err
		}
		return NewKEDA(hpa), nil
	case "predictive":
		if hasModel {
			if model == "" {
				return nil, fmt.Errorf("autoscale: policy %q: empty model name", spec)
			}
			pred.Model = model
		}
		if err := pred.Validate(); err != nil {
			return nil, err
		}
		return NewPredictive(pred), nil
	}
	return nil, fmt.Errorf("autoscale: unknown policy %q (want hpa, keda or predictive[:model])", spec)
}
