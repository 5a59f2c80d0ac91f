package cli

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// notifyAgentSignals sends the agent Ctrl-C (as SIGINT: leave and exit)
// and a console close or system shutdown (as SIGTERM). Windows has no
// SIGHUP, so a configuration reload is a restart there, and the log says so.
func notifyAgentSignals(c chan<- os.Signal, logger *slog.Logger) {
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	logger.Info("windows has no SIGHUP: restart the agent to reload its configuration")
}
