// Package buildinfo names the running build for `shoal version`, /v1/info
// and the metrics.
package buildinfo

import "runtime"

// Version is set at link time: -ldflags "-X github.com/shoal-dev/shoal/cmd/shoal/internal/buildinfo.Version=v1.2.3".
var Version = "0.1.0-dev"

// String is the one-line description `shoal version` prints.
func String() string {
	return "shoal " + Version + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
