package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
)

// retryJoin joins cfg.RetryJoin every RetryInterval until one address
// answers, RetryMax attempts fail, or ctx ends.
func (a *Agent) retryJoin(ctx context.Context, cfg config.Config, fatal chan<- error) {
	t := time.NewTicker(cfg.RetryInterval)
	defer t.Stop()
	for attempt := 1; ; attempt++ {
		n, err := a.node.Join(cfg.RetryJoin, cfg.ReplayOnJoin)
		if n > 0 {
			a.log.Info("retry-join succeeded", "contacted", n, "attempt", attempt)
			return
		}
		if cfg.RetryMax > 0 && attempt >= cfg.RetryMax {
			fatal <- fmt.Errorf("retry-join %v gave up after %d attempts: %w", cfg.RetryJoin, attempt, err)
			return
		}
		a.log.Warn("retry-join failed, will retry", "addrs", cfg.RetryJoin, "err", err, "in", cfg.RetryInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
