package render

import "github.com/shoal-dev/shoal/internal/debounce"

// Wait is a template's quiescence window, as in consul-template: after a
// change, wait until nothing has changed for Min, but never longer than Max
// after the first change, so a burst of joins renders once and a cluster
// that never settles still renders every Max. Min 0 renders at once.
// Max 0 means no upper bound beyond Min. The rule and its test live in
// internal/debounce, which handler scripts' member batching shares.
type Wait = debounce.Window
