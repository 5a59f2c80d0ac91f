package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"

	"github.com/shoal-dev/shoal/internal/atomicfile"
)

// The tags file (-tags-file, Serf's) keeps the node's tags across
// restarts: the agent starts with the tags it holds, and every change
// through the API rewrites it before the change is gossiped. It is JSON,
// an object of tag names to values, as Serf writes it.

// loadTagsFile returns the tags in path; a missing file is no tags (the
// first start).
func loadTagsFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tags file: %w", err)
	}
	var tags map[string]string
	if err := json.Unmarshal(b, &tags); err != nil {
		return nil, fmt.Errorf("tags file %s: not a JSON object of tag names to strings: %w", path, err)
	}
	if tags == nil {
		tags = map[string]string{}
	}
	return tags, nil
}

// writeTagsFile replaces path with tags atomically (a temporary file in the
// same directory, synced, renamed over it), so a crash leaves the old tags
// or the new ones, never half a file. Mode 0600, as Serf's: tags can be
// sensitive.
func writeTagsFile(path string, tags map[string]string) error {
	if err := writeJSONFile(path, tags); err != nil {
		return fmt.Errorf("tags file: %w", err)
	}
	return nil
}

// writeJSONFile replaces path with v, indented, atomically and readable by
// the agent's user only.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o600)
}

// restoreTags loads the tags file, if any, as tags set through the API,
// so SIGHUP keeps them like any API change.
func (a *Agent) restoreTags() error {
	if a.cfg.TagsFile == "" {
		return a.restoreAPITags()
	}
	tags, err := loadTagsFile(a.cfg.TagsFile)
	if err != nil {
		return err
	}
	maps.Copy(a.tagSet, tags)
	a.log.Info("tags restored from the tags file", "tags_file", a.cfg.TagsFile, "count", len(tags))
	return nil
}

// persistTags writes tags to the tags file, if any. The caller holds a.mu.
func (a *Agent) persistTags(tags map[string]string) error {
	if a.cfg.TagsFile == "" {
		return a.persistAPITags()
	}
	return writeTagsFile(a.cfg.TagsFile, tags)
}

// effectiveTags are the configured tags with the API's changes on top.
// The caller holds a.mu or owns a.
func (a *Agent) effectiveTags() map[string]string {
	out := maps.Clone(a.cfg.Tags)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, a.tagSet)
	for k := range a.tagDel {
		delete(out, k)
	}
	return out
}

// Tags returns the local node's tags.
func (a *Agent) Tags() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.effectiveTags()
}

// UpdateTags applies the API's tag changes and gossips them. It is the
// only way to change tags at run time: changes live until the agent
// restarts (or in the tags file) and survive reloads.
func (a *Agent) UpdateTags(set map[string]string, del []string) (map[string]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prevSet, prevDel := maps.Clone(a.tagSet), maps.Clone(a.tagDel)
	for k, v := range set {
		if k == "" {
			return nil, errors.New("empty tag key")
		}
		a.tagSet[k] = v
		delete(a.tagDel, k)
	}
	for _, k := range del {
		delete(a.tagSet, k)
		a.tagDel[k] = true
	}
	tags := a.effectiveTags()
	// The file first, as Serf: a change that cannot be kept is not made.
	if err := a.persistTags(tags); err != nil {
		a.tagSet, a.tagDel = prevSet, prevDel
		return nil, err
	}
	if err := a.node.SetTags(tags); err != nil {
		a.tagSet, a.tagDel = prevSet, prevDel
		if perr := a.persistTags(a.effectiveTags()); perr != nil {
			a.log.Error("tags file: could not restore the previous tags", "err", perr)
		}
		return nil, err
	}
	return tags, nil
}
