//go:build !windows

package cli

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// notifyAgentSignals sends the agent the signals it acts on: SIGINT leaves
// and exits, SIGTERM exits (leaving if configured), SIGHUP reloads.
func notifyAgentSignals(c chan<- os.Signal, _ *slog.Logger) {
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
}
