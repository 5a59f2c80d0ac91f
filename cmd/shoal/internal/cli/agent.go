package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
	if cfg.Dev {
		logger.Info("dev mode: one node on the defaults; templates render into ./" + config.DefaultDevDestDir)
	}

	// Signals are taken before anything starts so none is lost.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	a, err := agent.New(cfg, flags, logger, hub)
	if err != nil {
		return fail(e, "agent", err)
	}
	if err := a.Run(context.Background(), sigs); err != nil {
		logger.Error("agent stopped", "err", err)
		return fail(e, "agent", err)
	}
	logger.Info("agent stopped")
	return exitOK
}
