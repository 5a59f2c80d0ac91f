package handlers

func testutilCounter(r *Runner, result string) float64 {
	return r.runs.WithLabelValues(result).Value()
}
