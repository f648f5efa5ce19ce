package config

import (
	"fmt"
	"strconv"
	"strings"
)

// DecisionSampling reads log.decisions as the one-in-every count of
// allowed decisions to log (authz.WithDecisionSampling): "all" is 1,
// "denied" is 0 (only denials) and "sample:N" is N, for N from 1. Denials
// are logged whatever it says.
func (l Log) DecisionSampling() (uint64, error) {
	switch l.Decisions {
	case "all":
		return 1, nil
	case "denied":
		return 0, nil
	}
	if n, ok := strings.CutPrefix(l.Decisions, "sample:"); ok {
		if every, err := strconv.ParseUint(n, 10, 64); err == nil && every >= 1 {
			return every, nil
		}
	}
	return 0, fmt.Errorf("log.decisions: %q is not all, denied or sample:N with N a whole number from 1", l.Decisions)
}
