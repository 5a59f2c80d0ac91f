package node

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/atomicfile"
)

// The snapshot file lets a restarted node rejoin without -join and keep
// its clocks, so it replays nothing old. It is an append-only log of lines
//
//	alive: NAME ADDR:PORT
//	not-alive: NAME
//	clock: N | event-clock: N | query-clock: N
//	leave
//
// compacted into the current state when it grows past snapshotMaxSize.
// Malformed lines are skipped with a warning: a damaged snapshot costs a
// rejoin, never a failed start.
//
// NAME comes from the network. Only names that pass validName (letters,
// digits, '_', '.', '-') are written or read back, so no byte a remote
// sends can end a line or add a record; the gossip layer already keeps
// other names out of the view, and this check holds even if one got past.

const (
	snapshotMaxSize    = 128 << 10
	snapshotFlushEvery = 500 * time.Millisecond
)

type restoredState struct {
	peers                         []string
	clock, eventClock, queryClock LamportTime
	left                          bool
}

type snapshotRecord struct {
	kind       string // "alive", "not-alive", "leave"
	name, addr string
}

type snapshotter struct {
	path     string
	logger   *slog.Logger
	f        *os.File
	w        *bufio.Writer
	size     int64
	alive    map[string]string
	left     bool
	clocks   [3]LamportTime // written: clock, event, query
	in       chan snapshotRecord
	restored restoredState
	done     chan struct{}
}

func openSnapshot(path string, logger *slog.Logger) (*snapshotter, error) {
	s := &snapshotter{
		path: path, logger: logger.With("snapshot", path),
		alive: map[string]string{}, in: make(chan snapshotRecord, 1024), done: make(chan struct{}),
	}
	if err := s.replay(); err != nil {
		return nil, err
	}
	// A snapshot_path in a directory that does not exist yet (a fresh
	// machine's /var/lib/shoal) is made, private like the file: it names
	// every peer.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open snapshot: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open snapshot: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open snapshot: %w", err)
	}
	s.f, s.w, s.size = f, bufio.NewWriter(f), st.Size()
	return s, nil
}

func (s *snapshotter) replay() error {
	f, err := os.Open(s.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	r := &s.restored
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		key, val, _ := strings.Cut(text, ":")
		val = strings.TrimSpace(val)
		switch key {
		case "alive":
			name, addr, ok := strings.Cut(val, " ")
			if !ok || !ValidName(name) || addr == "" {
				s.logger.Warn("skipping malformed snapshot line", "line", line, "text", text)
				continue
			}
			s.alive[name] = addr
			r.left = false
		case "not-alive":
			delete(s.alive, val)
		case "leave":
			r.left = true
		case "clock", "event-clock", "query-clock":
			v, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				s.logger.Warn("skipping malformed snapshot line", "line", line, "text", text)
				continue
			}
			switch key {
			case "clock":
				r.clock = LamportTime(v)
			case "event-clock":
				r.eventClock = LamportTime(v)
			default:
				r.queryClock = LamportTime(v)
			}
		default:
			s.logger.Warn("skipping unknown snapshot line", "line", line, "text", text)
		}
	}
	if err := sc.Err(); err != nil {
		s.logger.Warn("snapshot read stopped early", "err", err)
	}
	s.left = r.left
	s.clocks = [3]LamportTime{r.clock, r.eventClock, r.queryClock}
	for _, addr := range s.alive {
		r.peers = append(r.peers, addr)
	}
	sort.Strings(r.peers)
	return nil
}

// restoreClocks makes the node's clocks continue from the snapshot, and
// ignores events and queries from before the restart.
func (n *Node) restoreClocks(r restoredState) {
	n.clock.Witness(r.clock)
	n.eventClock.Witness(r.eventClock)
	n.queryClock.Witness(r.queryClock)
	n.events.raiseMinTime(r.eventClock + 1)
	n.queries.raiseMinTime(r.queryClock + 1)
}

func (s *snapshotter) record(r snapshotRecord) {
	select {
	case s.in <- r:
	default:
		s.logger.Warn("snapshot queue is full; record dropped", "kind", r.kind, "member", r.name)
	}
}

func (s *snapshotter) recordAlive(name, addr string) {
	s.record(snapshotRecord{kind: "alive", name: name, addr: addr})
}
func (s *snapshotter) recordNotAlive(name string) {
	s.record(snapshotRecord{kind: "not-alive", name: name})
}
func (s *snapshotter) recordLeave() { s.record(snapshotRecord{kind: "leave"}) }

// run owns all snapshot I/O, so memberlist callbacks never touch the disk.
func (s *snapshotter) run(n *Node) {
	defer n.wg.Done()
	defer close(s.done)
	t := time.NewTicker(snapshotFlushEvery)
	defer t.Stop()
	for {
		select {
		case r := <-s.in:
			s.apply(r)
		case <-t.C:
			s.writeClocks(n)
			s.flush()
		case <-n.shutdownCh:
		drain:
			for {
				select {
				case r := <-s.in:
					s.apply(r)
				default:
					break drain
				}
			}
			s.writeClocks(n)
			s.flush()
			return
		}
	}
}

func (s *snapshotter) apply(r snapshotRecord) {
	if r.kind != "leave" && !ValidName(r.name) {
		s.logger.Warn("not recording a member with an invalid name", "kind", r.kind, "member", clip(r.name))
		return
	}
	switch r.kind {
	case "alive":
		if s.alive[r.name] == r.addr && !s.left {
			return
		}
		s.alive[r.name] = r.addr
		s.left = false
		s.appendLine("alive: " + r.name + " " + r.addr)
	case "not-alive":
		if _, ok := s.alive[r.name]; !ok {
			return
		}
		delete(s.alive, r.name)
		s.appendLine("not-alive: " + r.name)
	case "leave":
		s.left = true
		s.appendLine("leave")
		s.flush()
	}
}

func (s *snapshotter) writeClocks(n *Node) {
	now := [3]LamportTime{n.clock.Time(), n.eventClock.Time(), n.queryClock.Time()}
	for i, name := range []string{"clock", "event-clock", "query-clock"} {
		if now[i] != s.clocks[i] {
			s.clocks[i] = now[i]
			s.appendLine(fmt.Sprintf("%s: %d", name, now[i]))
		}
	}
}

func (s *snapshotter) appendLine(line string) {
	n, err := s.w.WriteString(line + "\n")
	s.size += int64(n)
	if err != nil {
		s.logger.Warn("snapshot write failed", "err", err)
	}
	if s.size > snapshotMaxSize {
		s.compact()
	}
}

func (s *snapshotter) flush() {
	if err := s.w.Flush(); err != nil {
		s.logger.Warn("snapshot flush failed", "err", err)
		return
	}
	if err := s.f.Sync(); err != nil {
		s.logger.Warn("snapshot sync failed", "err", err)
	}
}

// compact rewrites the log as the current state: temp file, fsync, rename.
func (s *snapshotter) compact() {
	var b strings.Builder
	names := make([]string, 0, len(s.alive))
	for name := range s.alive {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "alive: %s %s\n", name, s.alive[name])
	}
	fmt.Fprintf(&b, "clock: %d\nevent-clock: %d\nquery-clock: %d\n", s.clocks[0], s.clocks[1], s.clocks[2])
	if s.left {
		b.WriteString("leave\n")
	}
	// atomicfile: after a crash the log is the old one or the compacted
	// one, never half of either.
	next, err := atomicfile.Create(s.path, []byte(b.String()), 0o600)
	if err != nil {
		s.logger.Warn("snapshot compaction failed", "err", err)
		return
	}
	s.w.Flush()
	s.f.Close()
	if err := next.Commit(); err != nil {
		s.logger.Warn("snapshot compaction failed", "err", err)
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.logger.Error("snapshot reopen failed; snapshots stop", "err", err)
		f, _ = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	s.f, s.w, s.size = f, bufio.NewWriter(f), int64(b.Len())
}

func (s *snapshotter) close() {
	s.w.Flush()
	s.f.Close()
}
