package node

import (
	"errors"
	"fmt"
	"net"
	"sort"
)

// The rules a service catalog must meet. The owner applies them to what it
// publishes (SetCatalog, Config) and every receiver applies them to what it
// is sent (decodeRecord), so DNS, templates and handlers only ever see a
// catalog this node would have accepted from its own config.
const (
	// MaxInstances bounds the service instances of one member.
	MaxInstances = 256
	// MaxServiceTags bounds the tags of one instance.
	MaxServiceTags = 64
	// MaxServiceMeta bounds the meta entries of one instance;
	// MaxMetaValueLen the bytes of one meta value.
	MaxServiceMeta  = 64
	MaxMetaValueLen = 512
	// MaxChecks bounds the checks of one member, node and service level
	// together.
	MaxChecks = 512
	// MaxCheckNameLen and MaxNoteLen bound the gossiped text of a check.
	MaxCheckNameLen = 128
	MaxNoteLen      = 256
	// MaxRecordSize bounds a member's encoded catalog record.
	MaxRecordSize = 64 << 10
)

// CheckService reports the first thing wrong with one service instance,
// naming the instance and the field. An empty ID stands for Name, and an
// empty ServiceID of one of its checks for the instance's ID.
func CheckService(s Service) error {
	id := s.ID
	if id == "" {
		id = s.Name
	}
	if !ValidTagKey(s.Name) {
		return fmt.Errorf("service %q: name must be 1-64 letters, digits, '_', '.' or '-'", clip(s.Name))
	}
	if !ValidTagKey(id) {
		return fmt.Errorf("service %s: id %q must be 1-64 letters, digits, '_', '.' or '-'", s.Name, clip(id))
	}
	if s.Port == 0 {
		return fmt.Errorf("service %s: port must be 1-65535", id)
	}
	if s.Weight < 0 || s.Weight > 65535 {
		return fmt.Errorf("service %s: weight %d must be 0-65535", id, s.Weight)
	}
	if s.Address != nil {
		if err := checkMemberAddr(s.Address, s.Port); err != nil {
			return fmt.Errorf("service %s: %w", id, err)
		}
	}
	if len(s.Tags) > MaxServiceTags {
		return fmt.Errorf("service %s: %d tags, more than %d", id, len(s.Tags), MaxServiceTags)
	}
	for _, t := range s.Tags {
		if !ValidTagKey(t) {
			return fmt.Errorf("service %s: tag %q must be 1-64 letters, digits, '_', '.' or '-'", id, clip(t))
		}
	}
	if len(s.Meta) > MaxServiceMeta {
		return fmt.Errorf("service %s: %d meta entries, more than %d", id, len(s.Meta), MaxServiceMeta)
	}
	for k, v := range s.Meta {
		if !ValidTagKey(k) {
			return fmt.Errorf("service %s: meta key %q must be 1-64 letters, digits, '_', '.' or '-'", id, clip(k))
		}
		if err := checkText(v, MaxMetaValueLen); err != nil {
			return fmt.Errorf("service %s: meta %s: value %w", id, k, err)
		}
	}
	for _, c := range s.Checks {
		if c.ServiceID != "" && c.ServiceID != id {
			return fmt.Errorf("service %s: check %q belongs to service %q", id, clip(c.ID), clip(c.ServiceID))
		}
		if err := checkCheck(c); err != nil {
			return fmt.Errorf("service %s: %w", id, err)
		}
	}
	return nil
}

func checkCheck(c CheckState) error {
	if !ValidTagKey(c.ID) {
		return fmt.Errorf("check id %q must be 1-64 letters, digits, '_', '.' or '-'", clip(c.ID))
	}
	if err := checkText(c.Name, MaxCheckNameLen); err != nil {
		return fmt.Errorf("check %s: name %w", c.ID, err)
	}
	if c.Status > HealthMaintenance {
		return fmt.Errorf("check %s: status %d is not a health", c.ID, c.Status)
	}
	if err := checkText(c.Note, MaxNoteLen); err != nil {
		return fmt.Errorf("check %s: note %w", c.ID, err)
	}
	return nil
}

// CheckCatalog reports the first thing wrong with a member's whole catalog:
// each instance as CheckService, instance IDs and check IDs unique, node
// checks with no ServiceID, and the counts within their bounds.
func CheckCatalog(services []Service, nodeChecks []CheckState) error {
	if len(services) > MaxInstances {
		return fmt.Errorf("%d service instances, more than %d", len(services), MaxInstances)
	}
	ids := make(map[string]bool, len(services))
	checks := make(map[string]bool, len(nodeChecks))
	for _, s := range services {
		if err := CheckService(s); err != nil {
			return err
		}
		id := s.ID
		if id == "" {
			id = s.Name
		}
		if ids[id] {
			return fmt.Errorf("service %s: id declared twice", id)
		}
		ids[id] = true
		for _, c := range s.Checks {
			if checks[c.ID] {
				return fmt.Errorf("service %s: check id %s declared twice", id, c.ID)
			}
			checks[c.ID] = true
		}
	}
	for _, c := range nodeChecks {
		if c.ServiceID != "" {
			return fmt.Errorf("node check %q: has service id %q; attach it to the service instead", clip(c.ID), clip(c.ServiceID))
		}
		if err := checkCheck(c); err != nil {
			return fmt.Errorf("node %w", err)
		}
		if checks[c.ID] {
			return fmt.Errorf("node check id %s declared twice", c.ID)
		}
		checks[c.ID] = true
	}
	if len(checks) > MaxChecks {
		return fmt.Errorf("%d checks, more than %d", len(checks), MaxChecks)
	}
	return nil
}

// normalizeCatalog copies a catalog, defaults IDs to names and folds health:
// each instance's Health is the worst of its own checks and the node's
// checks, and the member's the worst of the node's checks. Owner and
// receivers both call it, so health never travels separately from the
// checks that make it.
func normalizeCatalog(services []Service, nodeChecks []CheckState) ([]Service, []CheckState, Health) {
	nodeHealth := HealthPassing
	for _, c := range nodeChecks {
		nodeHealth = Worst(nodeHealth, c.Status)
	}
	out := make([]Service, len(services))
	for i, s := range services {
		if s.ID == "" {
			s.ID = s.Name
		}
		s.Tags = append([]string(nil), s.Tags...)
		s.Address = append(net.IP(nil), s.Address...)
		if len(s.Address) == 0 {
			s.Address = nil
		}
		s.Meta = copyMeta(s.Meta)
		s.Checks = append([]CheckState(nil), s.Checks...)
		s.Health = nodeHealth
		for j := range s.Checks {
			s.Checks[j].ServiceID = s.ID
			s.Health = Worst(s.Health, s.Checks[j].Status)
		}
		out[i] = s
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, append([]CheckState(nil), nodeChecks...), nodeHealth
}

func copyMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return copyTags(m)
}

var errRecordTooLarge = errors.New("catalog record too large")
