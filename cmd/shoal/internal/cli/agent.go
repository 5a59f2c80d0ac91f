package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/agent"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
)

func runAgent(e env, args []string) int {
	flags, err := config.ParseFlags(args, e.stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		// flag already printed the problem and the usage.
		return exitUsage
	}
	cfg, err := flags.Load()
	if err != nil {
		return fail(e, "agent", fmt.Errorf("config: %w", err))
	}
	logger, hub := logging.New(e.stderr, cfg.LogFormat, cfg.LogLevel)
	if cfg.EnableSyslog {
		// At the agent's level, which SIGHUP can change (the hub holds it).
		sh, err := newSyslogHandler(cfg.SyslogFacility, hub, "", "")
		if err != nil {
			return fail(e, "agent", err)
		}
		logger = slog.New(teeHandler{logger.Handler(), sh})
	}
	setGCPercent()
	if cfg.Dev {
		logger.Info("dev mode: one node on the defaults; templates render into ./" + config.DefaultDevDestDir)
	}

	// Signals are taken before anything starts so none is lost.
	sigs := make(chan os.Signal, 4)
	notifyAgentSignals(sigs, logger)
	defer signal.Stop(sigs)

	a, err := agent.New(cfg, logger, hub)
	if err != nil {
		return fail(e, "agent", err)
	}
	if err := runUntilSignal(a, cfg, flags, logger, sigs); err != nil {
		logger.Error("agent stopped", "err", err)
		return fail(e, "agent", err)
	}
	logger.Info("agent stopped")
	return exitOK
}

// agentGCPercent is the agent's GOGC unless the GOGC variable sets one.
//
// An idle agent's live heap is about 0.5 MB, but with GOGC=100 the runtime
// lets the heap grow to its 4 MB minimum goal before collecting, and gossip
// fills it with garbage (memberlist allocates a 64 KiB buffer per UDP
// packet received and an LZW table per packet sent): ~1.6 MB of resident
// memory that holds nothing. 50 halves that minimum (the goal is 4 MB x
// GOGC/100) and still lets the heap grow in proportion to what is live, so
// a big cluster is not collected harder than it needs: an idle collection
// of a 0.5 MB heap costs tens of microseconds, a few times a minute.
const agentGCPercent = 50

// gcStartupGrace is how long a starting agent keeps the default GOGC.
// Start-up (config, registry, gossip, DNS, the join's push/pull) makes a
// couple of MB of short-lived garbage; at GOGC=50 that puts a collection
// between the agent's start and its join. An idle agent's memory is
// measured long after this.
const gcStartupGrace = 2 * time.Second

// setGCPercent sets agentGCPercent once the start-up grace has passed.
func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		time.AfterFunc(gcStartupGrace, func() { debug.SetGCPercent(agentGCPercent) })
	}
}
