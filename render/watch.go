package render

import (
	"fmt"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// fileWatcher watches the directories of file templates. It watches the
// directory, not the file: editors save by writing a new file and renaming
// it over the old one, which ends a watch on the old file's inode.
type fileWatcher struct {
	w     *fsnotify.Watcher // nil when no template is a file
	files map[string][]*tmplState
}

func newFileWatcher(tmpls []*tmplState) (*fileWatcher, error) {
	fw := &fileWatcher{files: map[string][]*tmplState{}}
	dirs := map[string]bool{}
	for _, ts := range tmpls {
		if p := ts.t.Path(); p != "" {
			fw.files[p] = append(fw.files[p], ts)
			dirs[filepath.Dir(p)] = true
		}
	}
	if len(dirs) == 0 {
		return fw, nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("render: watch templates: %w", err)
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return nil, fmt.Errorf("render: watch template directory %s: %w", d, err)
		}
	}
	fw.w = w
	return fw, nil
}

// events and errors return nil channels (never ready) without a watcher.
func (fw *fileWatcher) events() <-chan fsnotify.Event {
	if fw.w == nil {
		return nil
	}
	return fw.w.Events
}

func (fw *fileWatcher) errors() <-chan error {
	if fw.w == nil {
		return nil
	}
	return fw.w.Errors
}

// match returns the templates whose file an event rewrote. Writes and creates
// (a rename over the file arrives as a create) count; a removal does not,
// since the last good template keeps serving until a new file appears.
func (fw *fileWatcher) match(ev fsnotify.Event) []*tmplState {
	if !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Create) {
		return nil
	}
	return fw.files[filepath.Clean(ev.Name)]
}

func (fw *fileWatcher) close() {
	if fw.w != nil {
		fw.w.Close()
	}
}
