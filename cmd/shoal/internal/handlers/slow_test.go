package handlers

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// TestRunner_WarnsWhileSlowScriptRuns: a script still running after a
// second is logged as slow while it runs, as Serf's agent does; it blocks
// until the test has seen the warning, so the warning cannot come from
// the end of the run.
func TestRunner_WarnsWhileSlowScriptRuns(t *testing.T) {
	dir := t.TempDir()
	release, done := filepath.Join(dir, "release"), filepath.Join(dir, "done")
	logs := &testutil.SyncBuffer{}
	r := NewRunner(slog.New(slog.NewTextHandler(logs, nil)), Options{Timeout: 2 * time.Minute})
	defer r.Close()
	// The loop is the script waiting for the test, not the test waiting.
	s, err := ParseScript(fmt.Sprintf(`user=while [ ! -e %s ]; do sleep 0.05; done; touch %s`, release, done))
	if err != nil {
		t.Fatal(err)
	}
	r.SetScripts([]Script{s})
	r.Handle(&node.UserEvent{Name: "deploy"})

	testutil.WaitFor(t, 30*time.Second, func() error {
		if l := logs.String(); !strings.Contains(l, "handler is slow, still running") {
			return fmt.Errorf("no slow-handler warning yet; log: %q", l)
		}
		return nil
	})
	if _, err := os.Stat(done); err == nil {
		t.Fatal("the script had already finished when the warning was seen; want it logged while it runs")
	}
	line := logs.String()
	for _, want := range []string{"level=WARN", "threshold=1s", "event=", "handler="} {
		if !strings.Contains(line, want) {
			t.Errorf("warning %q lacks %q", line, want)
		}
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		_, err := os.Stat(done)
		return err
	})
	if n := strings.Count(logs.String(), "handler is slow"); n != 1 {
		t.Errorf("got %d slow warnings, want 1 per run", n)
	}
}

// A run that ends within the threshold stops the timer before it fires,
// so no warning follows it.
func TestWarnWhenSlow_StopBeforeThreshold(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	stop := warnWhenSlow(slog.New(slog.NewTextHandler(logs, nil)))
	if !stop() {
		t.Errorf("stop right after start: got false (timer already fired, log %q), want it stopped", logs.String())
	}
}
