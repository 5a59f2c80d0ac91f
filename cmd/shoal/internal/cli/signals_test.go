package cli

import (
	"os"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
)

// The signal rules the CLI applies to a running agent, as Serf's.
func TestActionFor(t *testing.T) {
	plain := config.DefaultConfig()
	skip := plain
	skip.SkipLeaveOnInterrupt = true
	leaveTerm := plain
	leaveTerm.LeaveOnTerminate = true
	for _, tc := range []struct {
		name string
		sig  os.Signal
		cfg  config.Config
		want signalAction
	}{
		{"SIGHUP reloads", syscall.SIGHUP, plain, actReload},
		{"SIGINT leaves", os.Interrupt, plain, actLeave},
		{"SIGINT with skip_leave_on_interrupt exits", os.Interrupt, skip, actExit},
		{"SIGTERM exits", syscall.SIGTERM, plain, actExit},
		{"SIGTERM with leave_on_terminate leaves", syscall.SIGTERM, leaveTerm, actLeave},
	} {
		if got := actionFor(tc.sig, tc.cfg); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}
