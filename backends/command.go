package backends

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CandidatePlaceholder is replaced, wherever it appears in an argument of
// CommandConfig.Check, by the path of the candidate file to check:
// ["mylb", "--check", "--config={{path}}"]. Arguments are passed as they
// are, with no shell; to use one, make it the command:
// ["sh", "-c", "mylb --check \"$1\"", "sh", "{{path}}"].
const CandidatePlaceholder = "{{path}}"

// CommandConfig configures the command backend: the user's own check and
// reload commands, for a load balancer shoal has no adapter for.
type CommandConfig struct {
	// Check validates a candidate file: exit status 0 accepts it, anything
	// else rejects it with the command's output. Its arguments must mention
	// CandidatePlaceholder. Empty means no validation: every candidate is
	// accepted.
	Check []string
	// Reload makes the load balancer use the installed file: exit status 0
	// means it did. Required.
	Reload []string
	// Timeout bounds each run of either command; at the deadline the
	// command and everything it started are killed. Default DefaultTimeout.
	Timeout time.Duration
}

// Command runs the user's commands.
type Command struct {
	cfg CommandConfig
}

var _ Backend = (*Command)(nil)

// NewCommand returns a command backend, with defaults filled in.
func NewCommand(cfg CommandConfig) (*Command, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Command{cfg: cfg}, nil
}

func (c *CommandConfig) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

// Validate reports every invalid option at once.
func (c CommandConfig) Validate() error {
	var errs []error
	if len(c.Check) > 0 {
		if c.Check[0] == "" {
			errs = append(errs, errors.New("command: check: the program name is empty"))
		}
		if !slices.ContainsFunc(c.Check, func(arg string) bool { return strings.Contains(arg, CandidatePlaceholder) }) {
			errs = append(errs, fmt.Errorf("command: check: no argument mentions %s, so the command cannot know which file to check", CandidatePlaceholder))
		}
	}
	switch {
	case len(c.Reload) == 0:
		errs = append(errs, errors.New("command: reload is required (use [\"true\"] if nothing needs reloading)"))
	case c.Reload[0] == "":
		errs = append(errs, errors.New("command: reload: the program name is empty"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("command: timeout: %s is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// Name returns "command".
func (c *Command) Name() string { return "command" }

// Validate runs the check command with the candidate's path in place of
// CandidatePlaceholder. Without a check command it accepts every candidate.
func (c *Command) Validate(ctx context.Context, path string) error {
	if len(c.cfg.Check) == 0 {
		return nil
	}
	argv := make([]string, len(c.cfg.Check))
	for i, arg := range c.cfg.Check {
		argv[i] = strings.ReplaceAll(arg, CandidatePlaceholder, path)
	}
	if _, err := run(ctx, c.cfg.Timeout, argv, nil); err != nil {
		return fmt.Errorf("check rejected %s: %w", path, err)
	}
	return nil
}

// Reload runs the reload command.
func (c *Command) Reload(ctx context.Context) error {
	if _, err := run(ctx, c.cfg.Timeout, c.cfg.Reload, nil); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}
