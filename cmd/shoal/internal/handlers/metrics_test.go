package handlers

import dto "github.com/prometheus/client_model/go"

func testutilCounter(r *Runner, result string) float64 {
	var m dto.Metric
	if err := r.runs.WithLabelValues(result).Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
