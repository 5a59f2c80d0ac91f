package cli

import (
	"errors"
	"log/slog"
)

// newSyslogHandler fails: Windows has no syslog (as in Serf, -syslog is
// for Linux and macOS).
func newSyslogHandler(string, slog.Leveler, string, string) (slog.Handler, error) {
	return nil, errors.New("syslog (-syslog, enable_syslog) is not available on Windows")
}
