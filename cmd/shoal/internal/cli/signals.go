package cli

import (
	"context"
	"log/slog"
	"os"
	"syscall"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/agent"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
)

// The CLI owns signals, as Serf's command package does; the agent offers
// Run, Reload and Leave.

// signalAction is what a signal asks of a running agent.
type signalAction int

const (
	actReload signalAction = iota // SIGHUP: re-read the config
	actLeave                      // leave the cluster, then exit
	actExit                       // exit without leaving
)

// actionFor maps a signal to its action under the running config:
// SIGINT leaves unless skip_leave_on_interrupt, SIGTERM exits unless
// leave_on_terminate.
func actionFor(sig os.Signal, cfg config.Config) signalAction {
	switch sig {
	case syscall.SIGHUP:
		return actReload
	case syscall.SIGTERM:
		if cfg.LeaveOnTerminate {
			return actLeave
		}
	case os.Interrupt:
		if !cfg.SkipLeaveOnInterrupt {
			return actLeave
		}
	}
	return actExit
}

// runUntilSignal runs a until it stops, acting on signals meanwhile. A
// second SIGINT or SIGTERM during a leave exits without finishing it.
// cfg is the config a was made with; each good reload replaces it.
func runUntilSignal(a *agent.Agent, cfg config.Config, flags *config.Flags, logger *slog.Logger, sigs <-chan os.Signal) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	leaving := false
	for {
		select {
		case err := <-done:
			return err
		case sig := <-sigs:
			act := actionFor(sig, cfg)
			switch {
			case act == actReload:
				if next, ok := reload(a, flags, logger); ok {
					cfg = next
				}
			case leaving:
				logger.Warn("second signal, exiting without finishing the leave", "signal", sig.String())
				cancel()
			case act == actLeave:
				leaving = true
				logger.Info("leaving the cluster", "signal", sig.String())
				// Leave makes Run return, with the leave's error if any.
				go func() { _ = a.Leave(ctx) }()
			case sig == syscall.SIGTERM:
				logger.Info("terminated, exiting without leaving", "signal", sig.String())
				cancel()
			default:
				logger.Info("interrupted, exiting without leaving (skip_leave_on_interrupt)", "signal", sig.String())
				cancel()
			}
		}
	}
}

// reload re-reads the config files and flags and hands them to the agent;
// a config that fails either is logged and the running one kept.
func reload(a *agent.Agent, flags *config.Flags, logger *slog.Logger) (config.Config, bool) {
	next, err := flags.Load()
	if err == nil {
		err = a.Reload(next)
	}
	if err != nil {
		logger.Error("config reload failed, keeping the running config", "err", err)
		return config.Config{}, false
	}
	return next, true
}
