package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Without a tags file (-tags-file, Serf's, which holds every tag), tags
// set or deleted through the API are kept in the data directory, so they
// survive a restart as runtime service registrations do. Only the API's
// changes are kept there, not the tags of the config: a tag the operator
// later edits in a config file takes the new value, unless the API set it.
// With neither a tags file nor a data directory, API changes last until
// the agent stops.

// apiTagsFile is the file, under the data directory, of the API's tag
// changes.
const apiTagsFile = "tags.json"

// apiTags is its content.
type apiTags struct {
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

func (a *Agent) apiTagsPath() string {
	dir := a.cfg.StateDir()
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, apiTagsFile)
}

// restoreAPITags loads the API's tag changes kept in the data directory.
// The caller owns a.
func (a *Agent) restoreAPITags() error {
	path := a.apiTagsPath()
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("api tags: %w", err)
	}
	var t apiTags
	if err := json.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("api tags %s: not the JSON this agent writes ({\"set\": {...}, \"delete\": [...]}); fix or move it away: %w", path, err)
	}
	maps.Copy(a.tagSet, t.Set)
	for _, k := range t.Delete {
		a.tagDel[k] = true
	}
	a.log.Info("tags set through the API restored from the data directory", "file", path, "set", len(t.Set), "deleted", len(t.Delete))
	return nil
}

// persistAPITags writes the API's tag changes to the data directory, if
// any. The caller holds a.mu.
func (a *Agent) persistAPITags() error {
	path := a.apiTagsPath()
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("api tags: %w", err)
	}
	t := apiTags{Set: a.tagSet, Delete: slices.Sorted(maps.Keys(a.tagDel))}
	if err := writeJSONFile(path, t); err != nil {
		return fmt.Errorf("api tags: %w", err)
	}
	return nil
}
