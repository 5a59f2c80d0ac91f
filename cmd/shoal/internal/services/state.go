package services

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/internal/atomicfile"
	"github.com/shoal-dev/shoal/node"
)

// stateVersion is the format of the state file; a file of another
// version is refused rather than half understood.
const stateVersion = 1

// StateFile is where, under the data directory, the registry keeps what
// the operator set at runtime.
const StateFile = "services/state.json"

// persisted is what survives a restart: runtime registrations,
// maintenance and the last status pushed to each ttl check. Config
// services are not in it: the config files are their source.
type persisted struct {
	Version            int                    `json:"version"`
	Runtime            []Registration         `json:"runtime,omitempty"`
	NodeMaintenance    *maintenance           `json:"node_maintenance,omitempty"`
	ServiceMaintenance map[string]maintenance `json:"service_maintenance,omitempty"`
	TTL                map[string]ttlState    `json:"ttl,omitempty"`
}

type maintenance struct {
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// ttlState is the last UpdateTTL of a check. Status is the Health name
// ("passing"), so the file reads well and survives a renumbering.
type ttlState struct {
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

// clone copies p deeply enough that changing the copy's slices and maps
// leaves p alone (registrations are replaced whole, never edited).
func (p persisted) clone() persisted {
	p.Runtime = slices.Clone(p.Runtime)
	if p.NodeMaintenance != nil {
		m := *p.NodeMaintenance
		p.NodeMaintenance = &m
	}
	p.ServiceMaintenance = maps.Clone(p.ServiceMaintenance)
	p.TTL = maps.Clone(p.TTL)
	if p.ServiceMaintenance == nil {
		p.ServiceMaintenance = map[string]maintenance{}
	}
	if p.TTL == nil {
		p.TTL = map[string]ttlState{}
	}
	return p
}

// loadState reads the state file; a missing file is an empty state, a
// corrupt one an error naming the file and what to do.
func loadState(path string) (persisted, error) {
	empty := persisted{Version: stateVersion}.clone()
	if path == "" {
		return empty, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return persisted{}, fmt.Errorf("services state %s: %w", path, err)
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return persisted{}, corrupt(path, err)
	}
	if p.Version != stateVersion {
		return persisted{}, corrupt(path, fmt.Errorf("version %d, want %d", p.Version, stateVersion))
	}
	var errs []error
	for i, reg := range p.Runtime {
		p.Runtime[i] = reg.normalized()
		errs = append(errs, p.Runtime[i].validate())
	}
	for id, s := range p.TTL {
		if h, ok := node.ParseHealth(s.Status); !ok || h > node.HealthCritical {
			errs = append(errs, fmt.Errorf("ttl of check %q: status %q is not passing, warning or critical", id, s.Status))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return persisted{}, corrupt(path, err)
	}
	return p.clone(), nil
}

func corrupt(path string, err error) error {
	return fmt.Errorf("services state %s is corrupt (move it away to start without runtime registrations, maintenance and ttl state): %w", path, err)
}

// save writes p atomically, readable by the agent's user only: it holds
// what operators registered, which may name internal endpoints.
func saveState(path string, p persisted) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return withKind(ErrStorage, fmt.Errorf("services state %s: %w", path, err))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return withKind(ErrStorage, fmt.Errorf("services state %s: %w", path, err))
	}
	return withKind(ErrStorage, atomicfile.WriteFile(path, append(b, '\n'), 0o600))
}
