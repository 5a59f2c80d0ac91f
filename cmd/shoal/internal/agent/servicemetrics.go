package agent

import (
	"github.com/shoal-dev/shoal/checks"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/services"
	"github.com/shoal-dev/shoal/internal/metrics"
	"github.com/shoal-dev/shoal/node"
)

// serviceMetrics exports the registry's checks and publishing.
type serviceMetrics struct {
	view interface {
		Services() []services.ServiceStatus
		NodeChecks() []checks.Result
	}
	status      *metrics.Desc
	transitions *metrics.CounterVec
	publishes   *metrics.CounterVec
}

func newServiceMetrics() *serviceMetrics {
	return &serviceMetrics{
		status: metrics.NewDesc("shoal_check_status",
			"1 for the status each local check is in, 0 for the others (service is empty for a node check; maintenance shows as check _maintenance).",
			metrics.GaugeKind, "check", "service", "status"),
		transitions: metrics.NewCounterVec("shoal_check_transitions_total",
			"Status changes of local checks, by the status entered.", "check", "service", "status"),
		publishes: metrics.NewCounterVec("shoal_services_publishes_total",
			"Times the service registry handed its instances and health to gossip (coalesced: at most 10/s), by result.", "result"),
	}
}

// transition counts a check's status change (services.Options.OnTransition).
func (m *serviceMetrics) transition(res checks.Result, _ node.Health) {
	m.transitions.WithLabelValues(res.ID, res.ServiceID, res.Status.String()).Inc()
}

// counting wraps publish to count its calls.
func (m *serviceMetrics) counting(publish func([]node.Service, []node.CheckState) error) func([]node.Service, []node.CheckState) error {
	return func(svcs []node.Service, nodeChecks []node.CheckState) error {
		err := publish(svcs, nodeChecks)
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.publishes.WithLabelValues(result).Inc()
		return err
	}
}

var healthStates = []node.Health{node.HealthPassing, node.HealthWarning, node.HealthCritical, node.HealthMaintenance}

func (m *serviceMetrics) Collect(s *metrics.Scrape) {
	results := m.view.NodeChecks()
	for _, st := range m.view.Services() {
		results = append(results, st.Checks...)
	}
	for _, r := range results {
		for _, h := range healthStates {
			v := 0.0
			if r.Status == h {
				v = 1
			}
			s.Add(m.status, v, r.ID, r.ServiceID, h.String())
		}
	}
	m.transitions.Collect(s)
	m.publishes.Collect(s)
}
