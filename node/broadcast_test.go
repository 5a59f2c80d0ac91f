package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recordingHandler keeps every log record, for tests that check what was
// logged and with which attributes.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// find returns the records with the message msg, each as its attributes.
func (h *recordingHandler) find(level slog.Level, msg string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.records {
		if r.Level != level || r.Message != msg {
			continue
		}
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		out = append(out, attrs)
	}
	return out
}

func TestNode_BroadcastQueueBoundedWithWarning(t *testing.T) {
	cfg := testConfig("flood")
	cfg.QueueWarnInterval = time.Hour // one warning of each kind in this test
	rec := &recordingHandler{}
	n, err := New(cfg, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })

	// Alone, the node has nobody to gossip to: nothing leaves its queue.
	const events, limit = 10_000, 4096
	if got := n.queueLimit(); got != limit {
		t.Fatalf("queue limit %d, want Serf's default %d", got, limit)
	}
	for i := range events {
		if err := n.UserEvent("flood", []byte(fmt.Sprint(i)), false); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if depth := n.eventBroadcasts.NumQueued(); depth > limit {
			t.Fatalf("after event %d the queue holds %d, want at most %d", i, depth, limit)
		}
	}
	if got := n.eventBroadcasts.NumQueued(); got != limit {
		t.Errorf("queue holds %d, want %d", got, limit)
	}
	if got, want := n.Stats().DroppedBroadcasts, uint64(events-limit); got != want {
		t.Errorf("DroppedBroadcasts %d, want %d", got, want)
	}
	drops := rec.find(slog.LevelWarn, "broadcast queue is over its limit; the most-sent messages were dropped")
	if len(drops) != 1 || drops[0]["queue"] != "event" || drops[0]["limit"] != "4096" || drops[0]["dropped"] != "1" {
		t.Errorf("drop warnings %v, want one for queue event, limit 4096, dropped 1", drops)
	}
	deep := rec.find(slog.LevelWarn, "broadcast queue is deep: messages are made faster than gossip carries them")
	if len(deep) != 1 || deep[0]["depth"] != "128" {
		t.Errorf("depth warnings %v, want one at depth 128", deep)
	}
}

func TestNode_QueueLimitFollowsClusterSizeWithMinQueueDepth(t *testing.T) {
	cfg := testConfig("qmin")
	cfg.MinQueueDepth = 10
	n := startNode(t, cfg)
	// One member known: 2*1 is below the floor.
	if got := n.queueLimit(); got != 10 {
		t.Errorf("queue limit %d, want MinQueueDepth 10", got)
	}
	cfg.MinQueueDepth = -1
	if _, err := New(cfg, nil); err == nil {
		t.Error("negative MinQueueDepth accepted")
	}
}
