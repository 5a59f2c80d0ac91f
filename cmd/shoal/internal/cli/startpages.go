package cli

import (
	"errors"
	"log/slog"
	"time"
)

// startupPagesAfter is how long after start the agent releases the
// executable pages start-up touched (dropStartupPages). Start-up (init,
// config, listeners, the first joins) is over in about a second; the
// margin is for a loaded machine. A page needed later just faults back in.
const startupPagesAfter = 10 * time.Second

// releaseStartupPagesLater releases the start-up pages once, after
// startupPagesAfter, unless the returned stop runs first.
func releaseStartupPagesLater(logger *slog.Logger) (stop func()) {
	t := time.AfterFunc(startupPagesAfter, func() {
		before, after, err := dropStartupPages()
		switch {
		case errors.Is(err, errors.ErrUnsupported):
		case err != nil:
			logger.Debug("start-up pages kept", "err", err)
		default:
			logger.Debug("start-up pages released", "rss_file_kb_before", before, "rss_file_kb_after", after)
		}
	})
	return func() { t.Stop() }
}
