package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
)

// shoal render does not say ok while the installed file is not live.
func TestPrintRenderStatus_ReloadFailed(t *testing.T) {
	var out strings.Builder
	st := []api.TemplateStatus{{
		Name: "edge", Destination: "/etc/haproxy/haproxy.cfg", Backend: "haproxy",
		State: "installed, reload failed", ReloadPending: true, NextReloadRetry: time.Now(),
		Error: "reload: haproxy reload: master not running", Hash: "0123456789abcdef",
	}}
	if code := printRenderStatus(env{stdout: &out, stderr: &out}, st); code != exitFail {
		t.Errorf("exit status: got %d, want %d", code, exitFail)
	}
	for _, want := range []string{"INSTALLED, RELOAD FAILED", "the installed file is not live", "master not running"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), " ok ") {
		t.Errorf("output says ok:\n%s", out.String())
	}
}
