package checks

import "github.com/shoal-dev/shoal/node"

// threshold applies Consul's success_before_passing and
// failures_before_critical to a stream of probe results:
//
//   - a passing result resets the failure count; once SuccessBeforePassing
//     passing results came in a row, the check turns passing;
//   - a warning or critical result resets the success count (a warning is
//     not a success); once FailuresBeforeCritical non-passing results came
//     in a row, the check takes the status of the latest one, warning or
//     critical;
//   - until a count is reached the check keeps its status, note and
//     output.
//
// 0 and 1 both mean "at once", as in Consul.
type threshold struct {
	successBeforePassing, failuresBeforeCritical int
	successes, failures                          int
}

// apply records one result and reports whether it sets the status.
func (t *threshold) apply(got node.Health) bool {
	if got == node.HealthPassing {
		t.failures = 0
		t.successes++
		return t.successes >= t.successBeforePassing
	}
	t.successes = 0
	t.failures++
	return t.failures >= t.failuresBeforeCritical
}
