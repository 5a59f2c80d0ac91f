package node

// Health is the state of a check, and of a service instance or a member as
// its checks and maintenance make it. The values are ordered by severity,
// so the health of a set is its worst member (see Worst). The zero value is
// passing: a service with no checks is as healthy as its agent.
type Health uint8

const (
	// HealthPassing instances take traffic.
	HealthPassing Health = iota
	// HealthWarning instances still take traffic, unless a consumer asks
	// for passing only (DNS only_passing).
	HealthWarning
	// HealthCritical instances take no traffic.
	HealthCritical
	// HealthMaintenance instances were taken out by an operator
	// (shoal maint); like critical, they take no traffic.
	HealthMaintenance
)

func (h Health) String() string {
	switch h {
	case HealthPassing:
		return "passing"
	case HealthWarning:
		return "warning"
	case HealthCritical:
		return "critical"
	case HealthMaintenance:
		return "maintenance"
	default:
		return "unknown"
	}
}

// ParseHealth is the inverse of Health.String.
func ParseHealth(s string) (Health, bool) {
	for h := HealthPassing; h <= HealthMaintenance; h++ {
		if h.String() == s {
			return h, true
		}
	}
	return HealthCritical, false
}

// Routable reports whether an instance with this health takes traffic:
// passing always, warning unless onlyPassing.
func (h Health) Routable(onlyPassing bool) bool {
	return h == HealthPassing || h == HealthWarning && !onlyPassing
}

// Worst is the most severe of hs; passing when hs is empty.
func Worst(hs ...Health) Health {
	w := HealthPassing
	for _, h := range hs {
		w = max(w, h)
	}
	return w
}

// MaintenanceCheckID is the ID of the check that stands for maintenance
// mode (shoal maint), on the node or on one service. Its Note is the
// operator's reason.
const MaintenanceCheckID = "_maintenance"

// CheckState is one check's result as it is gossiped: its status and a
// short note. The full output stays on the agent that ran it.
type CheckState struct {
	// ID is unique among the checks of one member.
	ID string
	// Name is the human label ("HTTP on :8080"); may be empty.
	Name string
	// ServiceID is the instance the check belongs to; empty for a
	// node-level check, which applies to every service of the member.
	ServiceID string
	Status    Health
	// Note is a short, single-line summary ("HTTP 503", a TTL note, the
	// maintenance reason).
	Note string
}
