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
	b, err := json.MarshalIndent(tags, "", "  ")
	if err != nil {
		return fmt.Errorf("tags file: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("tags file: %w", err)
	}
	return nil
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
