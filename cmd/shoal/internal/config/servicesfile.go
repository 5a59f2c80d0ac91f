package config

import (
	"fmt"
	"time"
)

// fileService is a `service { ... }` block. The first four keys are the
// block as it was before checks, so old files load unchanged.
type fileService struct {
	Name    string            `hcl:"name"`
	Port    int               `hcl:"port"`
	Tags    []string          `hcl:"tags,optional"`
	Weight  *int              `hcl:"weight,optional"`
	ID      *string           `hcl:"id,optional"`
	Address *string           `hcl:"address,optional"`
	Meta    map[string]string `hcl:"meta,optional"`
	Checks  []fileCheck       `hcl:"check,block"`
}

// fileCheck is a `check { ... }` block, in a service or at the top level.
type fileCheck struct {
	ID                     *string             `hcl:"id,optional"`
	Name                   *string             `hcl:"name,optional"`
	HTTP                   *string             `hcl:"http,optional"`
	Method                 *string             `hcl:"method,optional"`
	Header                 map[string][]string `hcl:"header,optional"`
	TCP                    *string             `hcl:"tcp,optional"`
	Args                   []string            `hcl:"args,optional"`
	TTL                    *string             `hcl:"ttl,optional"`
	Interval               *string             `hcl:"interval,optional"`
	Timeout                *string             `hcl:"timeout,optional"`
	SuccessBeforePassing   *int                `hcl:"success_before_passing,optional"`
	FailuresBeforeCritical *int                `hcl:"failures_before_critical,optional"`
	InitialStatus          *string             `hcl:"initial_status,optional"`
}

// services decodes the file's service and top-level check blocks. A block
// with a problem is reported (file, block, field) and left out.
func (a *applier) services(c *Config, fc *fileConfig) {
	for i, fs := range fc.Services {
		key := fmt.Sprintf("service[%d]", i)
		if fs.Name != "" {
			key = fmt.Sprintf("service[%d] %q", i, fs.Name)
		}
		d := ServiceDef{Name: fs.Name, Port: fs.Port, Tags: fs.Tags, Weight: 1, Meta: fs.Meta}
		setStr(&d.ID, fs.ID)
		setStr(&d.Address, fs.Address)
		if fs.Weight != nil {
			d.Weight = *fs.Weight
		}
		n := len(a.errs)
		for j, fck := range fs.Checks {
			d.Checks = append(d.Checks, a.check(fmt.Sprintf("%s: check[%d]", key, j), fck))
		}
		if len(a.errs) > n {
			continue
		}
		d.SetDefaults()
		for _, err := range flatten(d.Validate()) {
			a.fail(key, err)
		}
		if len(a.errs) == n {
			c.ServiceDefs = append(c.ServiceDefs, d)
		}
	}
	for i, fck := range fc.NodeChecks {
		key := fmt.Sprintf("check[%d]", i)
		n := len(a.errs)
		d := a.check(key, fck)
		if len(a.errs) > n {
			continue
		}
		d.setDefaults("node-check", i)
		for _, err := range flatten(d.Validate()) {
			a.fail(key, err)
		}
		if len(a.errs) == n {
			c.NodeChecks = append(c.NodeChecks, d)
		}
	}
}

// check decodes one check block's strings; Validate checks the values.
func (a *applier) check(key string, f fileCheck) CheckDef {
	d := CheckDef{Header: f.Header, Args: f.Args}
	setStr(&d.ID, f.ID)
	setStr(&d.Name, f.Name)
	setStr(&d.HTTP, f.HTTP)
	setStr(&d.Method, f.Method)
	setStr(&d.TCP, f.TCP)
	for name, pair := range map[string]struct {
		src *string
		dst *time.Duration
	}{"ttl": {f.TTL, &d.TTL}, "interval": {f.Interval, &d.Interval}, "timeout": {f.Timeout, &d.Timeout}} {
		if pair.src == nil {
			continue
		}
		v, err := parseDuration(*pair.src)
		if err != nil {
			a.fail(key+": "+name, err)
			continue
		}
		if v <= 0 {
			a.outOfRange(key+": "+name, *pair.src, fmt.Errorf("must be positive"))
			continue
		}
		*pair.dst = v
	}
	if f.SuccessBeforePassing != nil {
		d.SuccessBeforePassing = *f.SuccessBeforePassing
	}
	if f.FailuresBeforeCritical != nil {
		d.FailuresBeforeCritical = *f.FailuresBeforeCritical
	}
	if f.InitialStatus != nil {
		h, err := ParseInitialStatus(*f.InitialStatus)
		if err != nil {
			a.fail(key+": initial_status", err)
		} else {
			d.Initial, d.InitialSet = h, true
		}
	}
	return d
}
